"""What happens to an answer, the same on Discord and Slack: Stop ends it, Regenerate
replaces it, and a failed call to the model says so in our own words."""

from __future__ import annotations

import pytest

from bot import wording
from bot.domain import TurnStatus
from tests.behaviour.chats import Chat
from tests.fakes.upstream import Answer, FakeUpstream, Fault

# The server's own words: never shown in a chat (bot/wording.py upstream_error).
RAW = "upstream internals: pool db-7 exhausted"


def sent(upstream: FakeUpstream, request: int = -1) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in upstream.requests[request]["messages"][1:]]


async def test_stop_ends_a_slow_answer_and_keeps_what_was_written(
    chat: Chat, upstream: FakeUpstream
) -> None:
    # Role chunk, "You", " said:", then the stream stalls until the answer is stopped.
    upstream.fail_next(Fault("stall", after_chunks=3, seconds=30))
    async with chat.bot():
        await chat.start_answer("tell me a long story", who="member")
        await chat.click("stop", who="member")  # the asker
        await chat.wait_button("regenerate")
        [stopped] = chat.answers()
        status = await chat.answer_status()
        await chat.follow_up("and now?")
    assert stopped.startswith("You said:")
    assert stopped.endswith(chat.rendered(wording.stopped_notice()))
    assert status is TurnStatus.INTERRUPTED
    assert ("user", "tell me a long story") in sent(upstream)


async def test_regenerate_replaces_the_answer_in_what_the_model_reads_next(
    chat: Chat, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(text="The first try.")
    async with chat.bot():
        await chat.mention("say something")
        upstream.answer = Answer(text="The second try.")
        await chat.click("regenerate", who="member")
        await chat.until_shown("The second try.")
        upstream.answer = Answer()  # echo
        await chat.follow_up("what did you say?")
    assert sent(upstream, 1) == sent(upstream, 0)  # asked again with the same context
    assert sent(upstream) == [
        ("user", "say something"),
        ("assistant", "The second try."),
        ("user", "what did you say?"),
    ]


@pytest.mark.parametrize("code", ["invalid_token", "too_many_requests", "api_error"])
async def test_an_upstream_error_is_told_with_its_trace_id_and_not_the_servers_words(
    chat: Chat, upstream: FakeUpstream, code: str
) -> None:
    # Enough faults for every retry the client makes (429 and 500 are retried).
    upstream.fail_next(Fault("error", code=code, message=RAW, trace_id="trace-42"), times=5)
    async with chat.bot():
        await chat.start("are you there?")
        shown = await chat.until_shown("(trace id: trace-42)")
        status = await chat.answer_status()
    assert chat.rendered(wording.upstream_error("", code, "trace-42")) in shown
    assert RAW not in shown
    assert status is TurnStatus.FAILED


async def test_every_answer_in_a_busy_channel_gets_its_regenerate_button(
    chat: Chat, upstream: FakeUpstream
) -> None:
    """Slack posts about one message a second per channel: a button post that meets a
    429 is tried again, not dropped."""
    async with chat.bot():
        for n in range(4):  # two button posts per answer, in one channel, within a second
            await chat.mention(f"question {n}")
            await chat.wait_button("regenerate")
    assert len(upstream.requests) == 4


async def test_regenerate_still_works_after_a_restart(chat: Chat, upstream: FakeUpstream) -> None:
    """The button carries what it needs (Discord's dynamic items, Slack's button value):
    a bot started afresh still answers it."""
    upstream.answer = Answer(text="The first try.")
    async with chat.bot():
        await chat.mention("say something")
        await chat.wait_button("regenerate")
    upstream.answer = Answer(text="The second try.")
    async with chat.bot(recover=True):
        await chat.click("regenerate", who="member")
        await chat.until_shown("The second try.")
    assert len(upstream.requests) == 2
    assert sent(upstream, 1) == sent(upstream, 0)
