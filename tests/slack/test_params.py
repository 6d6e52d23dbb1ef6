"""Parameters from Slack: ``/settings key=value`` on a channel reaches the requests of
its threads, ``/ask key=value … question`` reaches one request, and values out of
range get a sentence, never a request."""

from __future__ import annotations

import pytest

from bot import wording
from bot.domain import ThreadKey
from bot.ports import ConversationStore
from tests.fakes.slack import SlackFake
from tests.fakes.upstream import FakeUpstream
from tests.slack.conftest import ALICE, GENERAL, TEAM, MakeBot, bot_messages
from tests.slack.test_commands import responses, run_command

CHANNEL = ThreadKey("slack", TEAM, GENERAL, "")


@pytest.mark.parametrize("store", ["memory", "sqlite"], indirect=True)
async def test_settings_on_a_channel_reach_the_requests_of_its_threads(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream, store: ConversationStore
) -> None:
    await make_bot()
    await run_command(slack_fake, "/settings", "temperature=0.4 max_tokens=300 format=json")
    await slack_fake.wait_for(lambda: slack_fake.workspace.responses, what="the answer")
    await run_command(slack_fake, "/ask", "three colours")
    await slack_fake.wait_for(lambda: upstream.requests, what="an upstream request")

    [(kind, said)] = responses(slack_fake)
    assert kind == "in_channel"
    assert said == (
        f"<@{ALICE}> set this channel's temperature to 0.4, max_tokens to 300, "
        "response_format to json_object."
    )
    stored = await store.settings(CHANNEL)
    assert (stored.temperature, stored.max_tokens, stored.response_format) == (
        0.4,
        300,
        "json_object",
    )
    [request] = upstream.requests  # /ask's thread inherits the channel's values
    assert request["temperature"] == 0.4
    assert request["max_tokens"] == 300
    assert request["response_format"] == {"type": "json_object"}


@pytest.fixture(autouse=True)
def alice_is_an_admin(slack_fake: SlackFake) -> None:
    """Changing a channel's parameters needs a workspace admin (bot/conversation_settings.py)."""
    slack_fake.workspace.users[ALICE].is_admin = True


async def test_ask_takes_key_value_words_before_the_question(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot()
    await run_command(slack_fake, "/ask", "temperature=1.2 max_tokens=50 x=3 solve for y")
    await slack_fake.wait_for(lambda: upstream.requests, what="an upstream request")
    [request] = upstream.requests
    assert request["temperature"] == 1.2
    assert request["max_tokens"] == 50
    assert "response_format" not in request
    assert request["messages"][-1]["content"] == "x=3 solve for y"  # not a known key


@pytest.mark.parametrize(
    ("command", "text", "sentence"),
    [
        ("/settings", "temperature=3", wording.temperature_out_of_range(3.0)),
        ("/settings", "max_tokens=0", wording.max_tokens_out_of_range(0, 128_000)),
        ("/settings", "colour=blue", wording.params_unknown_word("colour=blue")),
        (
            "/settings",
            "format=xml",
            wording.response_format_unknown("xml", ("text", "json_object")),
        ),
        ("/ask", "temperature=warm hi", wording.params_not_a_number("temperature", "warm")),
        ("/ask", "n=9 hi", wording.n_out_of_range(9, 4)),
        ("/ask", "max_tokens=99999999 hi", wording.max_tokens_out_of_range(99999999, 128_000)),
    ],
)
async def test_bad_values_get_a_sentence_and_no_request(
    slack_fake: SlackFake,
    make_bot: MakeBot,
    upstream: FakeUpstream,
    store: ConversationStore,
    command: str,
    text: str,
    sentence: str,
) -> None:
    await make_bot()
    await run_command(slack_fake, command, text)
    await slack_fake.wait_for(lambda: slack_fake.workspace.responses, what="the refusal")
    assert responses(slack_fake) == [("ephemeral", sentence)]
    assert upstream.requests == []
    assert bot_messages(slack_fake, GENERAL) == []  # /ask posted no question either
    assert await store.settings(CHANNEL) == type(await store.settings(CHANNEL))()


async def test_n_candidates_get_keep_buttons_and_the_kept_one_is_context(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot()
    await run_command(slack_fake, "/ask", "n=3 a colour")
    await slack_fake.wait_for(lambda: bot_messages(slack_fake, GENERAL), what="the question")
    question = bot_messages(slack_fake, GENERAL)[0]

    def offer() -> object:
        found = [
            m
            for m in slack_fake.messages(GENERAL, question.ts)
            if any(b.get("block_id") == "threadline_keep" for b in m.blocks or ())
        ]
        return found[0] if found else None

    await slack_fake.wait_for(offer, what="the Keep buttons")
    buttons = offer()
    shown = "".join(m.body for m in bot_messages(slack_fake, GENERAL, question.ts))
    for text in ("You said: a colour", "You said: a colour (candidate 2)", "(candidate 3)"):
        assert text in shown
    [actions] = [b for b in buttons.blocks if b["type"] == "actions"]  # type: ignore[attr-defined]
    assert [e["text"]["text"] for e in actions["elements"]] == ["Keep 1", "Keep 2", "Keep 3"]
    second = actions["elements"][1]
    click = slack_fake.payloads.block_actions(
        action_id=second["action_id"],
        value=second["value"],
        message_ts=buttons.ts,  # type: ignore[attr-defined]
        thread_ts=question.ts,
        block_id=actions["block_id"],
    )
    await slack_fake.send_interaction(click)
    kept = wording.candidate_kept(2)
    await slack_fake.wait_for(
        lambda: any(m.body == kept for m in bot_messages(slack_fake, GENERAL, question.ts)),
        what="the kept sentence",
    )
    await slack_fake.send_event(slack_fake.payloads.message("and another?", thread_ts=question.ts))
    await slack_fake.wait_for(lambda: len(upstream.requests) == 2, what="the next request")
    assert upstream.requests[0]["n"] == 3
    carried = [m["content"] for m in upstream.requests[1]["messages"] if m["role"] == "assistant"]
    assert carried == ["You said: a colour (candidate 2)"]


async def test_settings_shows_privately_and_clear_inherits_again(
    slack_fake: SlackFake, make_bot: MakeBot, store: ConversationStore
) -> None:
    await make_bot()
    await run_command(slack_fake, "/settings", "temp=0.9")
    await slack_fake.wait_for(lambda: len(slack_fake.workspace.responses) == 1)
    await run_command(slack_fake, "/settings")
    await slack_fake.wait_for(lambda: len(slack_fake.workspace.responses) == 2)
    await run_command(slack_fake, "/settings", "clear")
    await slack_fake.wait_for(lambda: len(slack_fake.workspace.responses) == 3)

    _, (kind, shown), (cleared_kind, cleared) = responses(slack_fake)
    assert kind == "ephemeral"
    assert shown.startswith("Parameters here — temperature: 0.9 (set for this channel)")
    assert shown.endswith("Change them with /settings temperature=0.7 max_tokens=500 format=json.")
    assert (cleared_kind, cleared) == (
        "in_channel",
        wording.params_cleared(f"<@{ALICE}>", "channel"),
    )
    assert (await store.settings(CHANNEL)).temperature is None
