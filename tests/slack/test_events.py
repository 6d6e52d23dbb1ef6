"""Mentions, threads, DMs and what the bot must not answer, through the real Bolt."""

from __future__ import annotations

import pytest

from bot import wording
from bot.domain import ThreadKey
from bot.ports import ConversationStore
from tests.fakes.slack import SlackFake, SlackLimits
from tests.fakes.upstream import FakeUpstream, Fault
from tests.slack.conftest import (
    ALICE,
    BOT,
    DM,
    GENERAL,
    TEAM,
    MakeBot,
    bot_messages,
    shown,
    wait_shown,
)

BOTH_STORES = pytest.mark.parametrize("store", ["memory", "sqlite"], indirect=True)


def sent_messages(upstream: FakeUpstream, index: int = -1) -> list[tuple[str, str]]:
    """(role, content) of one upstream request, without the system prompt."""
    return [(m["role"], m["content"]) for m in upstream.requests[index]["messages"][1:]]


async def test_a_mention_is_answered_natively_in_its_thread(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot()
    mention = slack_fake.payloads.app_mention("hello there")
    event_id = await slack_fake.send_event(mention)
    await wait_shown(slack_fake, GENERAL, mention["ts"], "You said: hello there")

    [answer] = bot_messages(slack_fake, GENERAL, mention["ts"])
    await slack_fake.wait_for(lambda: answer.ts and _state(slack_fake, answer.ts) == "stopped")
    assert answer.thread_ts == mention["ts"]
    assert sent_messages(upstream) == [("user", "hello there")]  # the mention is stripped
    [start] = slack_fake.log.calls("chat.startStream")
    assert (start.args["recipient_user_id"], start.args["recipient_team_id"]) == (ALICE, TEAM)
    assert slack_fake.log.calls("chat.update") == []
    [attempt] = slack_fake.deliveries[event_id].attempts  # acked in time: never retried
    assert attempt.outcome == "acked"


def _state(fake: SlackFake, ts: str) -> str:
    return next(m.stream_state for m in fake.messages(GENERAL) if m.ts == ts)


async def test_without_native_streaming_the_answer_is_posted_and_edited(
    slack_fake: SlackFake, make_bot: MakeBot
) -> None:
    await make_bot(native_streaming=False)
    mention = slack_fake.payloads.app_mention("**bold** & co")
    await slack_fake.send_event(mention)
    # mrkdwn: bold is *x*, and & is escaped
    await wait_shown(slack_fake, GENERAL, mention["ts"], "You said: *bold* &amp; co")
    assert slack_fake.log.calls("chat.startStream") == []
    assert slack_fake.log.calls("chat.postMessage")


@BOTH_STORES
async def test_a_thread_continues_without_a_mention_with_its_history(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot()
    mention = slack_fake.payloads.app_mention("first question")
    await slack_fake.send_event(mention)
    await wait_shown(slack_fake, GENERAL, mention["ts"], "You said: first question")

    follow_up = slack_fake.payloads.message("and then?", thread_ts=mention["ts"])
    await slack_fake.send_event(follow_up)
    await wait_shown(
        slack_fake, GENERAL, mention["ts"], "You said: first questionYou said: and then?"
    )
    assert sent_messages(upstream) == [
        ("user", "first question"),
        ("assistant", "You said: first question"),
        ("user", "and then?"),
    ]


async def test_channel_messages_that_are_not_for_the_bot_are_ignored(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    bot = await make_bot()
    top_level = slack_fake.payloads.message("just chatting")
    other_thread = slack_fake.payloads.message("a reply", thread_ts=top_level["ts"])
    own = slack_fake.payloads.bot_message("my own echo", own=True)
    other_bot = slack_fake.payloads.bot_message("beep", channel=DM)
    for event in (top_level, other_thread, own, other_bot):
        await slack_fake.wait_for_ack(await slack_fake.send_event(event))
    await bot.idle()
    assert upstream.stats.requests == 0
    posting = ("chat.postMessage", "chat.startStream", "conversations.replies")
    assert [r.method for r in slack_fake.requests if r.method in posting] == []


async def test_a_direct_message_is_answered(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot()
    await slack_fake.send_event(slack_fake.payloads.message("hi in private", channel=DM))
    await wait_shown(slack_fake, DM, None, "You said: hi in private")
    [answer] = bot_messages(slack_fake, DM)
    assert answer.thread_ts is None  # a DM's top level is the conversation

    await slack_fake.send_event(slack_fake.payloads.message("again", channel=DM))
    await wait_shown(slack_fake, DM, None, "You said: hi in privateYou said: again")
    assert sent_messages(upstream)[-1] == ("user", "again")
    assert len(sent_messages(upstream)) == 3


# An ack deadline of 0 makes the fake redeliver at once, with retry_attempt 1.
IMPATIENT = SlackLimits.fast(ack_timeout=0.0, max_retries=1)


@pytest.mark.parametrize("slack_fake_limits", [IMPATIENT], ids=["impatient-slack"])
async def test_a_socket_mode_redelivery_gets_one_answer(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    bot = await make_bot()
    mention = slack_fake.payloads.app_mention("only once")
    event_id = await slack_fake.send_event(mention)
    await slack_fake.wait_for(lambda: len(slack_fake.acks_for(event_id)) == 2, what="two acks")
    assert [a.number for a in slack_fake.deliveries[event_id].attempts] == [0, 1]
    await wait_shown(slack_fake, GENERAL, mention["ts"], "You said: only once")
    await bot.idle()
    assert upstream.stats.requests == 1
    assert len(bot_messages(slack_fake, GENERAL, mention["ts"])) == 1


@BOTH_STORES
async def test_edits_and_deletions_update_the_stored_turns(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream, store: ConversationStore
) -> None:
    bot = await make_bot()
    mention = slack_fake.payloads.app_mention("what is 2+2")
    await slack_fake.send_event(mention)
    await wait_shown(slack_fake, GENERAL, mention["ts"], "You said: what is 2+2")
    await bot.idle()

    edit = slack_fake.payloads.message_changed(
        channel=GENERAL,
        ts=mention["ts"],
        text=f"<@{BOT}> what is 3+3",
        previous_text=mention["text"],
    )
    await slack_fake.wait_for_ack(await slack_fake.send_event(edit))
    await bot.idle()
    assert upstream.stats.requests == 1  # an edit is never answered
    key = ThreadKey("slack", TEAM, GENERAL, mention["ts"])
    window = await store.history(key, token_budget=10_000, max_turns=10)
    assert [t.text for t in window.turns] == ["what is 3+3", "You said: what is 2+2"]

    aside = slack_fake.payloads.message("an aside", thread_ts=mention["ts"])
    await slack_fake.send_event(aside)
    await slack_fake.wait_for(lambda: len(bot_messages(slack_fake, GENERAL, mention["ts"])) == 2)
    await bot.idle()
    assert sent_messages(upstream)[0] == ("user", "what is 3+3")

    deletion = slack_fake.payloads.message_deleted(channel=GENERAL, ts=aside["ts"])
    await slack_fake.wait_for_ack(await slack_fake.send_event(deletion))
    await bot.idle()
    window = await store.history(key, token_budget=10_000, max_turns=10)
    assert "an aside" not in [t.text for t in window.turns]
    assert len(window.turns) == 3


@BOTH_STORES
async def test_a_first_mention_in_a_busy_thread_reads_it_once(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot()
    payloads, workspace = slack_fake.payloads, slack_fake.workspace
    parent = payloads.message("should we ship on Friday?")
    workspace.record_user_event(parent)
    for text, user in (("no, never on Friday", "U0BOB00001"), ("why not?", ALICE)):
        workspace.record_user_event(payloads.message(text, thread_ts=parent["ts"], user=user))
    mention = payloads.app_mention("settle this", thread_ts=parent["ts"])
    await slack_fake.send_event(mention)
    # Several people in the thread: the model reads who said what.
    await wait_shown(slack_fake, GENERAL, parent["ts"], "You said: alice: settle this")
    assert sent_messages(upstream) == [
        ("user", "alice: should we ship on Friday?"),
        ("user", "bob: no, never on Friday"),
        ("user", "alice: why not?"),
        ("user", "alice: settle this"),
    ]

    again = payloads.app_mention("and now?", thread_ts=parent["ts"])
    await slack_fake.send_event(again)
    await slack_fake.wait_for(lambda: len(bot_messages(slack_fake, GENERAL, parent["ts"])) == 2)
    await slack_fake.wait_for(lambda: shown(slack_fake, GENERAL, parent["ts"]).endswith("now?"))
    assert len(slack_fake.log.calls("conversations.replies")) == 1


async def test_an_upstream_error_is_told_in_the_thread_with_its_trace_id(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot()
    upstream.fail_next(Fault("error", code="invalid_token", trace_id="trace-42"))
    mention = slack_fake.payloads.app_mention("are you there?")
    await slack_fake.send_event(mention)
    await slack_fake.wait_for(
        lambda: "trace-42" in shown(slack_fake, GENERAL, mention["ts"]), what="error sentence"
    )
    text = shown(slack_fake, GENERAL, mention["ts"])
    assert "invalid_token" in text
    assert text.endswith("(trace id: trace-42)")


async def test_an_empty_mention_gets_a_hint(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot()
    mention = slack_fake.payloads.app_mention(f"<@{BOT}>")
    await slack_fake.send_event(mention)
    await wait_shown(slack_fake, GENERAL, mention["ts"], wording.empty_prompt())
    assert upstream.stats.requests == 0


async def test_an_assistant_thread_gets_prompts_status_title_and_a_streamed_answer(
    slack_fake: SlackFake, make_bot: MakeBot
) -> None:
    bot = await make_bot()
    started = slack_fake.payloads.assistant_thread_started()
    thread_ts = started["assistant_thread"]["thread_ts"]
    await slack_fake.send_event(started)
    await slack_fake.wait_for(lambda: slack_fake.workspace.assistant_calls, what="prompts")
    prompts = slack_fake.workspace.assistant_calls[0]
    assert prompts["method"] == "assistant.threads.setSuggestedPrompts"
    assert len(prompts["prompts"]) == len(wording.slack_suggested_prompts())

    question = slack_fake.payloads.message("plan my week", channel=DM, thread_ts=thread_ts)
    await slack_fake.send_event(question)
    await wait_shown(slack_fake, DM, thread_ts, "You said: plan my week")
    await bot.idle()
    calls = {c["method"]: c for c in slack_fake.workspace.assistant_calls}
    assert calls["assistant.threads.setStatus"]["status"] == wording.SLACK_THINKING_STATUS
    assert calls["assistant.threads.setTitle"]["title"] == "plan my week"
    assert slack_fake.log.calls("chat.startStream")


async def test_a_burst_right_after_start_is_answered_when_auth_test_is_rate_limited(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    """Bolt, given a token, asks auth.test per event until one answer is cached: under
    auth.test's rate limit those events were dropped unanswered. Identity comes from
    threadline's own auth.test at start instead."""
    await make_bot()
    slack_fake.exhaust("auth.test")
    mentions = [slack_fake.payloads.app_mention(f"question {i}") for i in range(5)]
    for mention in mentions:
        await slack_fake.send_event(mention)
    for i, mention in enumerate(mentions):
        await wait_shown(slack_fake, GENERAL, mention["ts"], f"You said: question {i}")
    assert len(slack_fake.log.calls("auth.test")) == 1  # threadline's own, at start
