"""Messages that reached Slack's threads while threadline was down are answered at start
(issue 22 point 4: once Slack's retries are spent nothing delivers them again), once,
only recent ones, and the reads keep within conversations.replies' tier.

The messages are put into the loopback Slack's threads without an event (as if
Slack had delivered it to a process that was not there); the next bot starts as
``threadline run`` does (``make_bot(recover=True)``) on the same store.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from bot.domain import ThreadKey
from bot.ports import ConversationStore
from bot.settings import ConversationLimits
from tests.fakes.slack import SlackFake
from tests.fakes.slack.limits import RateLimit, SlackLimits
from tests.fakes.upstream import FakeUpstream
from tests.slack.conftest import GENERAL, TEAM, MakeBot, bot_messages, shown
from tests.test_recovery import ended, slack_env
from tests.test_run import start_run

BOTH_STORES = pytest.mark.parametrize("store", ["memory", "sqlite"], indirect=True)
BOB = "U0BOB00001"
# conversations.replies' tier made short, and the bot told the same interval.
READS = RateLimit(burst=1, interval=0.5)
PACED: dict[str, Any] = {"history_import_interval": READS.interval}


@pytest.fixture
def slack_fake_limits() -> SlackLimits:
    return (
        SlackLimits.fast()
        .with_method_limit("conversations.replies", READS)
        .with_method_limit("conversations.history", READS)
    )


async def answered_thread(fake: SlackFake, make_bot: MakeBot, text: str, **changes: Any) -> str:
    """A thread begun by a mention and answered by a bot that then stops; its ts."""
    bot = await make_bot(**(changes or PACED))
    mention = fake.payloads.app_mention(text)
    await fake.send_event(mention)
    await fake.wait_for(lambda: text in shown(fake, GENERAL, mention["ts"]), what="answer")
    await bot.idle()
    await bot.stop()
    return str(mention["ts"])


def post_while_down(fake: SlackFake, text: str, thread: str, user: str = BOB) -> str:
    """A message Slack got while no bot was there to be told; its ts."""
    message = fake.payloads.message(text, thread_ts=thread, user=user)
    fake.workspace.record_user_event(message)
    return str(message["ts"])


@BOTH_STORES
async def test_a_message_sent_while_threadline_was_down_is_answered_once_at_start(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream, store: ConversationStore
) -> None:
    thread = await answered_thread(slack_fake, make_bot, "first question")
    missed = post_while_down(slack_fake, "asked while you were down", thread)

    restarted = await make_bot(recover=True, **PACED)
    await slack_fake.wait_for(
        lambda: shown(slack_fake, GENERAL, thread).endswith("asked while you were down"),
        what="the missed message answered",
    )
    await restarted.idle()
    await restarted.stop()
    stored = await store.find_by_message("slack", f"{GENERAL}:{missed}")
    assert stored is not None  # stored like any question, in its thread
    assert stored.key == ThreadKey("slack", TEAM, GENERAL, thread)
    assert upstream.requests[-1]["messages"][-1]["content"] == "bob: asked while you were down"
    assert len(bot_messages(slack_fake, GENERAL, thread)) == 2

    again = await make_bot(recover=True, **PACED)  # the start after that answers nothing again
    await again.idle()
    assert len(upstream.requests) == 2
    assert len(bot_messages(slack_fake, GENERAL, thread)) == 2
    assert len(slack_fake.log.calls("conversations.replies")) == 2  # one read per start
    assert slack_fake.rate_limited["conversations.replies"] == 0


async def test_nothing_is_caught_up_when_reasking_is_off(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    thread = await answered_thread(slack_fake, make_bot, "first question")
    post_while_down(slack_fake, "asked while you were down", thread)
    off = ConversationLimits(reask_within_seconds=0)
    restarted = await make_bot(recover=True, limits=off, **PACED)
    await restarted.idle()
    assert len(upstream.requests) == 1
    assert len(bot_messages(slack_fake, GENERAL, thread)) == 1
    assert slack_fake.log.calls("conversations.replies") == []


async def test_only_messages_the_bot_would_answer_are_caught_up(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    """Another bot's post is not a question; a mention is asked once (not as its
    ``message`` copy too); both people's follow-ups are, oldest first."""
    thread = await answered_thread(slack_fake, make_bot, "first question")
    other_bot = slack_fake.payloads.message("a deploy finished", thread_ts=thread)
    slack_fake.workspace.record_user_event({**other_bot, "bot_id": "B0OTHER001"})
    post_while_down(slack_fake, "<@U0BOT00001> and you?", thread)
    post_while_down(slack_fake, "and one more", thread, user="U0ALICE001")

    restarted = await make_bot(recover=True, **PACED)
    await slack_fake.wait_for(lambda: len(bot_messages(slack_fake, GENERAL, thread)) == 3)
    await restarted.idle()
    asked = [r["messages"][-1]["content"] for r in upstream.requests[1:]]
    assert asked == ["bob: and you?", "alice: and one more"]


async def test_threads_are_read_newest_first_within_the_tier_while_the_bot_answers(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    """Three threads to read and a first mention in a busy thread (whose import uses the
    same method) during the catch-up: no 429, every missed message answered, and a live
    question answered without waiting for the catch-up."""
    threads = [await answered_thread(slack_fake, make_bot, f"question {n}") for n in range(3)]
    for n, thread in enumerate(threads):
        post_while_down(slack_fake, f"missed {n}", thread)
    busy = slack_fake.payloads.message("should we ship on Friday?", user=BOB)
    slack_fake.workspace.record_user_event(busy)

    before = len(slack_fake.log.calls("conversations.replies"))  # the earlier starts' reads
    restarted = await make_bot(recover=True, **PACED)
    live = slack_fake.payloads.app_mention("settle this", thread_ts=busy["ts"])
    await slack_fake.send_event(live)
    await slack_fake.wait_for(lambda: "settle this" in shown(slack_fake, GENERAL, busy["ts"]))
    for n, thread in enumerate(threads):
        await slack_fake.wait_for(
            lambda n=n, thread=thread: shown(slack_fake, GENERAL, thread).endswith(f"missed {n}"),
            timeout=10,
        )
    await restarted.idle()
    assert slack_fake.rate_limited["conversations.replies"] == 0
    read = [c.args["ts"] for c in slack_fake.log.calls("conversations.replies")[before:]]
    caught_up = [ts for ts in read if ts != busy["ts"]]
    assert caught_up == threads[::-1]  # the newest thread first
    assert len(upstream.requests) == 3 + 3 + 1


@pytest.mark.parametrize("slack_fake_limits", [SlackLimits.fast()])
async def test_at_slacks_real_tier_the_bot_answers_while_the_catch_up_waits(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    """conversations.replies at one a minute (the non-Marketplace tier, the default
    interval): the newest thread is read at once, the next one is a minute away; a live
    mention is answered meanwhile, and the bot stops without waiting for the read."""
    quiet = ConversationLimits(reask_within_seconds=0)  # these starts read nothing
    first = await answered_thread(slack_fake, make_bot, "question 0", limits=quiet)
    second = await answered_thread(slack_fake, make_bot, "question 1", limits=quiet)
    post_while_down(slack_fake, "missed 0", first)
    post_while_down(slack_fake, "missed 1", second)

    restarted = await make_bot(recover=True)
    await slack_fake.wait_for(lambda: shown(slack_fake, GENERAL, second).endswith("missed 1"))
    live = slack_fake.payloads.app_mention("still there?")
    await slack_fake.send_event(live)
    await slack_fake.wait_for(lambda: "still there?" in shown(slack_fake, GENERAL, live["ts"]))
    await restarted.stop()
    assert not shown(slack_fake, GENERAL, first).endswith("missed 0")
    assert len(slack_fake.log.calls("conversations.replies")) == 1
    assert slack_fake.rate_limited["conversations.replies"] == 0


async def test_a_message_sent_while_a_killed_process_was_down_is_answered_once(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """A real ``threadline run`` on the SQLite file, SIGKILLed: the message Slack got
    meanwhile is answered by the next start, and the start after that (a follow-up
    asked then is answered in its turn) does not answer it again."""
    limits = (
        SlackLimits()
        .with_method_limit("conversations.replies", READS)
        .with_method_limit("conversations.history", READS)
    ).with_method_limit("conversations.history", READS)
    async with SlackFake(limits=limits) as slack:
        env = slack_env(upstream, tmp_path, slack) | {
            "SLACK__HISTORY_IMPORT_INTERVAL": str(READS.interval)
        }
        process = await start_run(env)
        try:
            await slack.wait_for(lambda: slack.socket.connections, 30, "socket")
            mention = slack.payloads.app_mention("first question")
            thread = str(mention["ts"])
            await slack.send_event(mention)
            await slack.wait_for(lambda: finished(slack, thread, "first question"), 30)
        finally:
            process.kill()
            await process.wait()
        post_while_down(slack, "asked while you were down", thread)

        for follow_up in ("", "and now?"):
            restarted = await start_run(env)
            try:
                await slack.wait_for(lambda: slack.socket.connections, 30, "socket")
                await slack.wait_for(lambda: finished(slack, thread, "you were down"), 30)
                if follow_up:
                    await slack.send_event(slack.payloads.message(follow_up, thread_ts=thread))
                    await slack.wait_for(lambda t=follow_up: finished(slack, thread, t), 30)
            finally:
                restarted.send_signal(signal.SIGTERM)
                code, err = await ended(restarted)
            assert code == 0, err
    asked = [r["messages"][-1]["content"] for r in upstream.requests]
    assert asked == ["first question", "bob: asked while you were down", "alice: and now?"]
    assert len(bot_messages(slack, GENERAL, thread)) == 3
    assert slack.rate_limited["conversations.replies"] == 0


def finished(fake: SlackFake, thread: str, text: str) -> bool:
    """The thread's last bot message is a finished answer ending with ``text``."""
    answers = bot_messages(fake, GENERAL, thread)
    return (
        bool(answers)
        and answers[-1].body.endswith(text)
        and (answers[-1].stream_state != "streaming")
    )
