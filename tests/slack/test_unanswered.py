"""Questions a stop left waiting are answered at the next start, in their threads.

A bot is stopped while one answer streams and the next question of its thread
waits its turn; the next bot starts as ``threadline run`` does
(``make_bot(recover=True)``) on the same store. A thread's earlier messages
brought in as context, and a refused question, are never asked.
"""

from __future__ import annotations

import pytest

from bot import wording
from bot.allowance import Allowance
from bot.domain import Role, ThreadKey, TurnStatus
from bot.ports import ConversationStore
from bot.service import ReplyService
from bot.settings import QuotaSettings, UpstreamSettings
from bot.upstream import UpstreamClient
from tests.discord.harness import eventually
from tests.fakes.slack import SlackFake
from tests.fakes.slack.limits import RateLimit, SlackLimits
from tests.fakes.upstream import FakeUpstream, Fault
from tests.services import reply_service
from tests.slack.conftest import GENERAL, TEAM, MakeBot, bot_messages, shown, wait_shown

BOTH_STORES = pytest.mark.parametrize("store", ["memory", "sqlite"], indirect=True)
BOB = "U0BOB00001"
# A restart reads each recent thread once (the catch-up, adapters/slack/catchup.py)
# from conversations.replies' budget: a short tier here, the bot told the same, so a
# restart need not wait out the real one-a-minute window.
READS = RateLimit(burst=1, interval=0.5)


@pytest.fixture
def slack_fake_limits() -> SlackLimits:
    return (
        SlackLimits.fast()
        .with_method_limit("conversations.replies", READS)
        .with_method_limit("conversations.history", READS)
    )


@pytest.fixture
def service(
    store: ConversationStore, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> ReplyService:
    """One message a minute per person: a second one is refused."""
    quota = QuotaSettings.off().model_copy(update={"user_per_minute": 1})
    return reply_service(store, client, upstream_settings, allowance=Allowance(store, quota))


async def answers_to(store: ConversationStore, key: ThreadKey, message_id: str) -> list[str]:
    """The statuses of the answer turns to one stored question (history shows no failed ones)."""
    found = await store.find_by_message("slack", message_id)
    assert found is not None
    window = await store.history(key, token_budget=10**9, max_turns=1000)
    return [
        t.status.value
        for t in window.turns
        if t.role is Role.ASSISTANT and t.reply_to == found.turn.id
    ]


@BOTH_STORES
async def test_a_question_left_waiting_in_a_thread_is_answered_after_a_restart(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream, store: ConversationStore
) -> None:
    payloads = slack_fake.payloads
    bot = await make_bot(history_import_interval=READS.interval)
    upstream.fail_next(Fault("stall", after_chunks=3, seconds=30))  # the first answer hangs
    mention = payloads.app_mention("a long story")
    thread = mention["ts"]
    await slack_fake.send_event(mention)
    await slack_fake.wait_for(lambda: "said" in shown(slack_fake, GENERAL, thread))
    second = payloads.message("and a second one", thread_ts=thread, user=BOB)
    await slack_fake.send_event(second)
    second_id = f"{GENERAL}:{second['ts']}"
    await eventually(lambda: store.find_by_message("slack", second_id))
    await bot.stop()  # the first answer is cut; the second question never began
    assert shown(slack_fake, GENERAL, thread).endswith(wording.stopped_notice())
    key = ThreadKey("slack", TEAM, GENERAL, thread)
    assert await answers_to(store, key, second_id) == []

    restarted = await make_bot(recover=True, history_import_interval=READS.interval)
    await slack_fake.wait_for(
        lambda: shown(slack_fake, GENERAL, thread).endswith("You said: bob: and a second one")
    )
    await restarted.idle()
    await restarted.stop()
    assert len(bot_messages(slack_fake, GENERAL, thread)) == 2
    assert all(m.stream_state != "streaming" for m in bot_messages(slack_fake, GENERAL, thread))
    assert upstream.requests[-1]["messages"][-1]["content"] == "bob: and a second one"
    assert await answers_to(store, key, second_id) == ["complete"]  # stored once
    asked = len(upstream.requests)

    again = await make_bot(
        recover=True, history_import_interval=READS.interval
    )  # a second restart asks nothing again
    await again.idle()
    assert len(upstream.requests) == asked
    assert len(bot_messages(slack_fake, GENERAL, thread)) == 2


@BOTH_STORES
async def test_thread_context_and_refused_questions_are_not_asked_at_a_restart(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream, store: ConversationStore
) -> None:
    payloads, workspace = slack_fake.payloads, slack_fake.workspace
    bot = await make_bot(history_import_interval=READS.interval)
    parent = payloads.message("should we ship on Friday?", user=BOB)
    workspace.record_user_event(parent)
    workspace.record_user_event(payloads.message("no, never", thread_ts=parent["ts"], user=BOB))
    mention = payloads.app_mention("settle this", thread_ts=parent["ts"])
    await slack_fake.send_event(mention)
    await wait_shown(slack_fake, GENERAL, parent["ts"], "You said: alice: settle this")
    refused = payloads.message("and now?", thread_ts=parent["ts"])  # alice again, too soon
    await slack_fake.send_event(refused)
    await slack_fake.wait_for(lambda: len(bot_messages(slack_fake, GENERAL, parent["ts"])) == 2)
    await bot.idle()
    await bot.stop()
    key = ThreadKey("slack", TEAM, GENERAL, parent["ts"])
    window = await store.history(key, token_budget=10**9, max_turns=1000)
    # The two earlier messages were brought in as context; neither was asked.
    assert [(t.text, t.status) for t in window.turns][:2] == [
        ("should we ship on Friday?", TurnStatus.COMPLETE),
        ("no, never", TurnStatus.COMPLETE),
    ]
    refused_turn = await store.find_by_message("slack", f"{GENERAL}:{refused['ts']}")
    assert refused_turn is not None
    assert refused_turn.turn.status is TurnStatus.FAILED
    asked = len(upstream.requests)

    restarted = await make_bot(recover=True, history_import_interval=READS.interval)
    await restarted.idle()
    assert len(upstream.requests) == asked == 1
    assert len(bot_messages(slack_fake, GENERAL, parent["ts"])) == 2
