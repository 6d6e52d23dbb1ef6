"""Streaming edge cases against Slack's limits: refusals, length, 429s, expiry."""

from __future__ import annotations

import re

import pytest

from bot import wording
from tests.fakes.slack import RateLimit, SlackFake, SlackLimits
from tests.fakes.slack.state import Json
from tests.fakes.slack.web_api import ApiCall, ApiError
from tests.fakes.upstream import Answer, FakeUpstream
from tests.slack.conftest import GENERAL, MakeBot, bot_messages, shown, wait_shown

WORDS = " ".join(f"w{n}" for n in range(40))


def stream_states(fake: SlackFake, thread_ts: str) -> list[str]:
    return [m.stream_state for m in bot_messages(fake, GENERAL, thread_ts)]


async def refuse_streaming(call: ApiCall) -> Json:
    """What Slack answers an app whose token may not stream."""
    raise ApiError("not_allowed_token_type")


async def test_a_refused_native_stream_falls_back_and_is_not_tried_again(
    slack_fake: SlackFake, make_bot: MakeBot
) -> None:
    slack_fake.web_api.add({"chat.startStream": refuse_streaming})
    await make_bot()
    for text in ("first", "second"):
        mention = slack_fake.payloads.app_mention(text)
        await slack_fake.send_event(mention)
        await wait_shown(slack_fake, GENERAL, mention["ts"], f"You said: {text}")
    assert len(slack_fake.log.calls("chat.startStream")) == 1
    assert slack_fake.log.calls("chat.update")


STINGY_STARTS = SlackLimits.fast().with_method_limit(
    "chat.startStream", RateLimit(burst=1, interval=60.0)
)


@pytest.mark.parametrize("slack_fake_limits", [STINGY_STARTS], ids=["one-start-a-minute"])
async def test_a_rate_limited_start_falls_back_for_that_answer_only(
    slack_fake: SlackFake, make_bot: MakeBot
) -> None:
    bot = await make_bot()
    for text in ("streamed", "posted", "posted too"):
        mention = slack_fake.payloads.app_mention(text)
        await slack_fake.send_event(mention)
        await wait_shown(slack_fake, GENERAL, mention["ts"], f"You said: {text}")
        await bot.idle()
    assert [r.status for r in slack_fake.log.calls("chat.startStream")] == [200, 429, 429]


async def test_a_long_answer_is_split_into_messages_without_losing_text(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot(native_streaming=False)
    upstream.answer = Answer(tokens=1_500)  # "tok " x 1,500: 6,000 characters
    mention = slack_fake.payloads.app_mention("talk a lot")
    await slack_fake.send_event(mention)
    await slack_fake.wait_for(
        lambda: (
            shown(slack_fake, GENERAL, mention["ts"]).count("tok") == 1_500
            and wording.IN_PROGRESS_MARKER.strip() not in shown(slack_fake, GENERAL, mention["ts"])
        ),
        timeout=10,
        what="the whole answer",
    )
    messages = bot_messages(slack_fake, GENERAL, mention["ts"])
    assert len(messages) >= 2
    assert all(len(m.text) <= 4_000 for m in messages)
    assert slack_fake.log.calls("chat.startStream") == []


STINGY_EDITS = SlackLimits.fast().with_method_limit("chat.update", RateLimit(burst=2, interval=2.0))


@pytest.mark.parametrize("slack_fake_limits", [STINGY_EDITS], ids=["two-edits-then-429"])
async def test_a_429_from_chat_update_loses_no_text(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot(native_streaming=False)
    upstream.answer = Answer(text=WORDS, tokens_per_s=20)  # edits 0.5 s apart: the third is refused
    mention = slack_fake.payloads.app_mention("slowly")
    await slack_fake.send_event(mention)
    await wait_shown(slack_fake, GENERAL, mention["ts"], WORDS, timeout=10)
    assert slack_fake.rate_limited["chat.update"] >= 1
    # The scheduler paused on the 429 instead of hammering Slack.
    assert slack_fake.rate_limited["chat.update"] <= 2


async def test_a_long_stream_rolls_over_before_slack_ends_it(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot(stream_rollover_seconds=0.2)
    upstream.answer = Answer(text=WORDS, tokens_per_s=50)  # about 0.8 s
    mention = slack_fake.payloads.app_mention("take your time")
    await slack_fake.send_event(mention)
    await wait_shown(slack_fake, GENERAL, mention["ts"], WORDS, timeout=10)
    await slack_fake.wait_for(
        lambda: set(stream_states(slack_fake, mention["ts"])) == {"stopped"}, what="all stopped"
    )
    assert len(bot_messages(slack_fake, GENERAL, mention["ts"])) >= 3
    assert not slack_fake.log.calls("chat.update")


SHORT_STREAMS = SlackLimits.fast(stream_max_age=0.25)


@pytest.mark.parametrize("slack_fake_limits", [SHORT_STREAMS], ids=["streams-end-at-250ms"])
async def test_a_stream_slack_ended_continues_in_a_new_message(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot(stream_rollover_seconds=60.0)  # no rollover of our own: Slack ends it
    upstream.answer = Answer(text=WORDS, tokens_per_s=50)
    mention = slack_fake.payloads.app_mention("keep going")
    await slack_fake.send_event(mention)
    await wait_shown(slack_fake, GENERAL, mention["ts"], WORDS, timeout=10)
    errors = [r.error for r in slack_fake.log.calls("chat.appendStream") if r.error]
    assert "message_not_in_streaming_state" in errors
    assert len(bot_messages(slack_fake, GENERAL, mention["ts"])) >= 2


SMALL_MESSAGES = SlackLimits.fast(markdown_max_chars=200)


@pytest.mark.parametrize("slack_fake_limits", [SMALL_MESSAGES], ids=["200-char-markdown"])
async def test_msg_too_long_continues_the_answer_in_a_new_message(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    bot = await make_bot()
    upstream.answer = Answer(tokens=300)  # 1,200 characters at once
    mention = slack_fake.payloads.app_mention("a lot at once")
    await slack_fake.send_event(mention)
    await wait_shown(slack_fake, GENERAL, mention["ts"], "tok " * 300, timeout=10)
    await bot.idle()
    assert any(r.error == "msg_too_long" for r in slack_fake.requests)
    assert len(bot_messages(slack_fake, GENERAL, mention["ts"])) >= 6


async def test_a_code_block_open_at_a_rollover_is_closed_and_reopened(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot(stream_rollover_seconds=0.2)
    code = "\n".join(f"line_{n} = {n}" for n in range(30))
    upstream.answer = Answer(text=f"Here:\n```python\n{code}\n```\nDone.", tokens_per_s=40)
    mention = slack_fake.payloads.app_mention("code please")
    await slack_fake.send_event(mention)
    await slack_fake.wait_for(
        lambda: shown(slack_fake, GENERAL, mention["ts"]).endswith("Done."),
        timeout=10,
        what="the whole answer",
    )
    await slack_fake.wait_for(
        lambda: set(stream_states(slack_fake, mention["ts"])) == {"stopped"}, what="all stopped"
    )
    bodies = [m.body for m in bot_messages(slack_fake, GENERAL, mention["ts"])]
    assert len(bodies) >= 2
    assert all(body.count("```") % 2 == 0 for body in bodies)  # every message balanced
    # Apart from the fences added around the cut, nothing was lost or added.
    assert visible(bodies[-1]).endswith("Done.")
    assert visible("".join(bodies)) == visible(f"Here:\n```python\n{code}\n```\nDone.")
    assert bodies[1].startswith("```python\n")


def visible(markdown: str) -> str:
    """Text without fences and whitespace: what must survive a split unchanged."""
    return re.sub(r"```(?:python)?|\s", "", markdown)


CODE_LINES = [f"    total = total + {n}  # step {n:04d} of the long loop\n" for n in range(700)]
LONG_CODE = "Here is the loop:\n```python\ntotal = 0\n" + "".join(CODE_LINES) + "```\nDone."


@pytest.mark.parametrize("tokens_per_s", [1_500, 4_000])
async def test_a_30000_character_code_answer_rolls_over_at_line_boundaries(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream, tokens_per_s: int
) -> None:
    """At the 12,000-character rollover the partial line waits for the next message
    (issue 19): the code copied from the messages equals the model's, line by line."""
    assert len(LONG_CODE) > 30_000
    await make_bot()
    upstream.answer = Answer(text=LONG_CODE, tokens_per_s=tokens_per_s)
    mention = slack_fake.payloads.app_mention("a long loop please")
    await slack_fake.send_event(mention)
    await slack_fake.wait_for(
        lambda: (
            set(stream_states(slack_fake, mention["ts"])) == {"stopped"}
            and shown(slack_fake, GENERAL, mention["ts"]).endswith("Done.")
        ),
        timeout=30,
        what="the whole answer, every stream stopped",
    )
    bodies = [m.body for m in bot_messages(slack_fake, GENERAL, mention["ts"])]
    assert len(bodies) >= 3
    assert all(len(body) <= 12_000 for body in bodies)
    copied = []
    for body in bodies:
        assert body.count("```") % 2 == 0  # every message's code block is closed
        code = re.findall(r"```(?:python)?\n(.*?)```", body, flags=re.DOTALL)
        copied += [line + "\n" for block in code for line in block.splitlines()]
    assert copied == ["total = 0\n", *CODE_LINES]
