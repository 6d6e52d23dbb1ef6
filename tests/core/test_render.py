"""bot.render: markdown as Discord and Slack show it, safe on every partial edit."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.render import render_discord, render_slack

ZWSP = "\u200b"

# --- Discord -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("hello @everyone", f"hello @{ZWSP}everyone"),
        ("@here look", f"@{ZWSP}here look"),
        ("@Everyone @HERE", f"@{ZWSP}Everyone @{ZWSP}HERE"),
        ("ask <@&123456> now", f"ask <@{ZWSP}&123456> now"),
        ("hi <@123> and <@!456>", f"hi <@{ZWSP}123> and <@{ZWSP}!456>"),
        ("partial <@12", f"partial <@{ZWSP}12"),
    ],
)
def test_discord_mentions_cannot_ping(markdown: str, expected: str) -> None:
    assert render_discord(markdown) == expected


def test_discord_passes_markdown_and_links_through() -> None:
    answer = (
        "# Results\n\n**Bold**, *italic*, `code` and a [source](https://example.com/a_b?x=1&y=2).\n"
        "```python\nprint('hi')\n```\nemail me@example.com, channel <#123>."
    )
    assert render_discord(answer) == answer


def test_discord_browsing_answer_keeps_every_link() -> None:
    answer = "\n".join(f"{i}. [Title {i}](https://site{i}.example/page?q={i})" for i in range(5))
    assert render_discord(answer) == answer


# --- Slack: the rules ----------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("**bold** and __bold__", "*bold* and *bold*"),
        ("*italic* and _italic_", "_italic_ and _italic_"),
        ("~~gone~~", "~gone~"),
        ("***both***", "_*both*_"),
        ("[text](https://example.com)", "<https://example.com|text>"),
        ("![a cat](https://img.example/cat.png)", "<https://img.example/cat.png|a cat>"),
        ("[](https://example.com)", "<https://example.com>"),
        ('[t](https://example.com "Title")', "<https://example.com|t>"),
        (
            "[wiki](https://en.wikipedia.org/wiki/A_(b))",
            "<https://en.wikipedia.org/wiki/A_(b)|wiki>",
        ),
        ("[**bold** link](https://e.com)", "<https://e.com|*bold* link>"),
        ("[q](https://e.com/?a=1&b=2)", "<https://e.com/?a=1&amp;b=2|q>"),
        ("<https://example.com>", "<https://example.com>"),
        ("# Heading", "*Heading*"),
        ("### Third level ###", "*Third level*"),
        ("## **Already bold**", "*Already bold*"),
        ("#hashtag", "#hashtag"),
        ("- item", "• item"),
        ("* item", "• item"),
        ("+ item", "• item"),
        ("- one\n  - nested\n    - deeper", "• one\n  • nested\n    • deeper"),
        ("1. first\n2. **second**", "1. first\n2. *second*"),
        ("> quoted *text*", "> quoted _text_"),
        ("> - quoted item", "> • quoted item"),
        ("---", "---"),
        ("* * *", "* * *"),
        ("fish & chips <b> 3 > 2", "fish &amp; chips &lt;b&gt; 3 &gt; 2"),
    ],
)
def test_slack_rules(markdown: str, expected: str) -> None:
    assert render_slack(markdown) == expected


@pytest.mark.parametrize(
    "markdown",
    [
        "5 * 3 = 15 and 2 * 4",
        "snake_case_name and `__init__` method",
        "~5 minutes, ~10 at most",
        "see https://example.com/a_b_c_d for more",
        "price: $5, 10% off!",
    ],
)
def test_slack_leaves_plain_text_alone(markdown: str) -> None:
    assert render_slack(markdown) == markdown


def test_slack_bare_urls_stay_clickable_and_lose_sentence_punctuation() -> None:
    text = "Read https://example.com/x_y_z. Or (https://en.wikipedia.org/wiki/A_(b))."
    assert render_slack(text) == text
    assert render_slack("**https://example.com**") == "*https://example.com*"
    assert render_slack("https://e.com/?a=1&b=2") == "https://e.com/?a=1&amp;b=2"


def test_slack_neutralises_special_mentions_written_by_the_model() -> None:
    rendered = render_slack("<!channel> <!here> <!everyone> <@U123> <#C1|general>")
    assert "<" not in rendered
    assert rendered.startswith("&lt;!channel&gt;")


def test_slack_relative_links_stay_as_written() -> None:
    assert render_slack("[docs](/docs/intro)") == "[docs](/docs/intro)"


# --- Slack: code is protected --------------------------------------------------


def test_slack_inline_code_is_not_transformed_but_escaped() -> None:
    assert render_slack("run `a **b** <c> & _d_` now") == "run `a **b** &lt;c&gt; &amp; _d_` now"
    assert render_slack("``code with ` tick``") == "``code with ` tick``"


def test_slack_fenced_code_drops_the_language_and_keeps_content() -> None:
    markdown = "Look:\n```python\nif a < b and **c**:\n    # not a heading\n    - x\n```\n**done**"
    assert render_slack(markdown) == (
        "Look:\n```\nif a &lt; b and **c**:\n    # not a heading\n    - x\n```\n*done*"
    )


def test_slack_tilde_fences_become_backtick_fences() -> None:
    assert render_slack("~~~js\nx && y\n~~~") == "```\nx &amp;&amp; y\n```"


# --- Slack: partial markdown, as streamed -------------------------------------


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("**bol", "**bol"),
        ("[text](htt", "[text](htt"),
        ("[text](https://exa", "[text](https://exa"),
        ("![alt](", "![alt]("),
        ("`unclosed code **x**", "`unclosed code *x*"),
        ("```py\nunclosed **x** <", "```\nunclosed **x** &lt;"),
        ("#", "#"),
        ("- ", "• "),
        ("~~str", "~~str"),
        ("<https://exa", "&lt;https://exa"),
    ],
)
def test_slack_partial_markdown(markdown: str, expected: str) -> None:
    assert render_slack(markdown) == expected


def test_slack_every_prefix_of_an_answer_renders() -> None:
    answer = (
        "# Answer\n\nHere are **three** sources:\n"
        "1. [First](https://a.example/one) — *fast*\n"
        "2. [Second](https://b.example/two_(2)) & more\n"
        "```python\nprint('<ok>')\n```\n> done ~~now~~"
    )
    for end in range(len(answer) + 1):
        render_slack(answer[:end])
        render_discord(answer[:end])


def test_slack_browsing_answer_with_several_links() -> None:
    answer = (
        "According to [Reuters](https://www.reuters.com/a?x=1&y=2) and "
        "[the BBC](https://www.bbc.co.uk/news/b), see also https://example.org/c."
    )
    assert render_slack(answer) == (
        "According to <https://www.reuters.com/a?x=1&amp;y=2|Reuters> and "
        "<https://www.bbc.co.uk/news/b|the BBC>, see also https://example.org/c."
    )


# --- properties ------------------------------------------------------------------

PIECES = [*"*_~`#[]()<>&\\ \n", "**", "__", "~~", "```", "```py\n", "# ", "- ", "> ", "![", "]("]
PIECES += ["https://e.com/", "@everyone", "@here", "<@&", "<@!", "<!channel>", "word", "é", "😀"]
MARKDOWN = st.lists(
    st.sampled_from(PIECES) | st.text(max_size=8) | st.from_regex(r"[0-9]{1,20}", fullmatch=True),
    max_size=120,
).map("".join)

LINK_START = re.compile(r"<(?:https?://|mailto:)", re.IGNORECASE)


@settings(max_examples=400, deadline=None)
@given(markdown=MARKDOWN)
def test_render_discord_never_pings(markdown: str) -> None:
    rendered = render_discord(markdown)
    assert "@everyone" not in rendered.lower()
    assert "@here" not in rendered.lower()
    assert re.search(r"<@[!&]?\d", rendered) is None
    assert rendered.replace(ZWSP, "") == markdown.replace(ZWSP, "")


@settings(max_examples=400, deadline=None)
@given(markdown=MARKDOWN)
def test_render_slack_never_raises_and_only_emits_its_own_links(markdown: str) -> None:
    rendered = render_slack(markdown)
    for index in (i for i, char in enumerate(rendered) if char == "<"):
        assert LINK_START.match(rendered, index), rendered
    assert rendered.count("\n") == markdown.count("\n")


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.characters(categories=["L", "N", "Zs"])))
def test_render_slack_keeps_plain_words(text: str) -> None:
    assert render_slack(text) == text
