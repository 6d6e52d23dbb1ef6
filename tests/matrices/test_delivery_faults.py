"""Platform outages (5xx runs of increasing length) while an answer is written.

Whatever the run, the answer ends shown in full, or (a run past the bound of
``bot.delivery``) with a sentence in its thread once the platform is back; and
the database agrees with the platform: ``delivered`` only when the platform
shows the final text, ``notified`` only when it shows the sentence.

- short: inside the edit scheduler's own tries (``EditScheduler.MAX_FAILURES``);
- long: the scheduler gives up; ``Deliveries`` tries again with backoff;
- past the bound: every try fails; the sentence is posted when the outage ends.

Discord answers 503 (discord.py raises it at once; a 500 it tries five times
over ~25 s itself, discord/http.py, so a 500 outage only takes longer to reach
the same path). Slack answers HTTP 500 ``internal_error`` on ``chat.*``. The
real bots, ``ReplyService`` and ``SqliteStore`` run; backoffs are shortened.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot import wording
from bot.delivery import Deliveries
from bot.domain import Delivery, Role, StoredTurn, TurnStatus
from bot.settings import UpstreamSettings
from bot.upstream import UpstreamClient
from storage import SqliteStore
from tests.discord.harness import FAST_DISCORD, REGENERATE, RecordingDiscord, Rig, has_button
from tests.fakes.slack import SlackFake, SlackLimits
from tests.fakes.upstream import Answer, FakeUpstream
from tests.matrices.rigs import start_slack_bot
from tests.services import reply_service

WORDS = " ".join(f"w{n}" for n in range(60))
BACKOFF = (0.05, 0.1, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3)  # the bound: eight tries, 3 requests each
PAST_THE_BOUND = 10**6  # requests: the outage lasts until the test ends it
RUNS = {"2 in a row": 2, "8 in a row": 8, "16 in a row": 16, "past the bound": PAST_THE_BOUND}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with await SqliteStore.open(tmp_path / "threadline.db") as opened:
        yield opened


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    """Poll ``check`` (the store and ``Deliveries`` do not notify the fakes)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def the_answer(store: SqliteStore, platform: str, message_id: str) -> StoredTurn:
    stored = await store.find_by_message(platform, message_id)
    assert stored is not None
    assert stored.turn.role is Role.ASSISTANT
    return stored


async def settled(
    store: SqliteStore, deliveries: Deliveries, platform: str, message_id: Callable[[], str]
) -> None:
    """The answer has ended, nothing is owed any more, and nothing is being tried."""

    async def done() -> bool:
        stored = await store.find_by_message(platform, message_id())
        return (
            stored is not None
            and stored.turn.status is not TurnStatus.STREAMING
            and deliveries.pursuing == 0
            and not await store.undelivered_answers(platform)
        )

    await until(done)


# -- Discord ------------------------------------------------------------------------


@pytest.mark.parametrize("run", list(RUNS.values()), ids=list(RUNS))
async def test_a_discord_outage_ends_shown_or_told(
    store: SqliteStore,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    upstream: FakeUpstream,
    run: int,
) -> None:
    deliveries = Deliveries(store, backoff=BACKOFF, tell_tries=1_000)
    upstream.answer = Answer(text=WORDS, tokens_per_s=60)
    async with RecordingDiscord(FAST_DISCORD) as fake:
        rig = Rig(fake, store, client, upstream_settings, deliveries=deliveries)
        async with rig.bot():
            asked = await fake.dispatch_message(content="through the outage", mentions_bot=True)
            thread = await rig.thread_of(asked)
            first = await fake.wait_for_message(thread, lambda m: "w1" in m.content, timeout=10)
            fake.outage(run)
            if run == PAST_THE_BOUND:
                # Every try of the answer failed, and the sentence's first post too.
                await fake.wait_for(lambda: _refused_post(fake, thread), 30)
                fake.outage(0)  # the platform is back
            await settled(store, deliveries, "discord", lambda: str(first.id))
            if run != PAST_THE_BOUND:
                await rig.answered(thread, timeout=30)  # Regenerate is under it
        stored = await the_answer(store, "discord", str(first.id))
        messages = rig.bot_messages(thread)

    assert stored.turn.status is TurnStatus.COMPLETE
    assert stored.turn.text == WORDS
    shown = " ".join(m.content for m in messages if m.content != wording.answer_not_shown())
    if run == PAST_THE_BOUND:
        assert stored.turn.delivery is Delivery.NOTIFIED
        assert messages[-1].content == wording.answer_not_shown()
        assert shown != WORDS  # the platform never showed it: the database does not claim so
    else:
        assert stored.turn.delivery is Delivery.DELIVERED
        assert shown == WORDS
        assert has_button(messages[-1], REGENERATE)
        assert wording.answer_not_shown() not in [m.content for m in messages]
    assert fake.edge.outage_left == 0 or run == 2  # the outage did happen in full


def _refused_post(fake: RecordingDiscord, thread: int) -> bool:
    return any(
        r.status == 503 and r.method == "POST" and r.path.endswith(f"/channels/{thread}/messages")
        for r in fake.world.requests
    )


# -- Slack --------------------------------------------------------------------------

SLACK_RUNS = {"3 in a row": 3, "10 in a row": 10, "past the bound": PAST_THE_BOUND}
CHANNEL = "C0GENERAL1"


@pytest.mark.parametrize("native", [True, False], ids=["native stream", "chat.update"])
@pytest.mark.parametrize("run", list(SLACK_RUNS.values()), ids=list(SLACK_RUNS))
async def test_a_slack_outage_ends_shown_or_told(
    store: SqliteStore,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    upstream: FakeUpstream,
    run: int,
    native: bool,
) -> None:
    deliveries = Deliveries(store, backoff=BACKOFF, tell_tries=1_000)
    service = reply_service(store, client, upstream_settings, deliveries=deliveries)
    upstream.answer = Answer(text=WORDS, tokens_per_s=60)
    async with SlackFake(limits=SlackLimits.fast(stream_max_age=300.0)) as fake:
        bot = await start_slack_bot(
            fake, service, store, upstream_settings, native_streaming=native
        )
        try:
            mention = fake.payloads.app_mention("through the outage")
            await fake.send_event(mention)
            await fake.wait_for(lambda: "w1" in _shown(fake, mention["ts"]), 10, "first words")
            fake.outage(run)
            if run == PAST_THE_BOUND:
                await fake.wait_for(lambda: _refused_sentence(fake), 30, "the sentence tried")
                fake.outage(0)
            await bot.idle()
            await settled(store, deliveries, "slack", lambda: _first_id(fake, mention["ts"]))
        finally:
            await bot.stop()
        messages = _answer_messages(fake, mention["ts"])
        stored = await the_answer(store, "slack", f"{CHANNEL}:{messages[0].ts}")

    assert (stored.turn.status, stored.turn.text) == (TurnStatus.COMPLETE, WORDS)
    assert all(m.stream_state != "streaming" for m in messages)
    shown = " ".join(m.body for m in messages if m.body != wording.answer_not_shown()).split()
    if run == PAST_THE_BOUND:
        assert stored.turn.delivery is Delivery.NOTIFIED
        assert messages[-1].body == wording.answer_not_shown()
        assert shown != WORDS.split()
    else:
        assert stored.turn.delivery is Delivery.DELIVERED
        assert shown == WORDS.split()
    assert fake.web_api.outage_left == 0 or run == 3


def _bot(fake: SlackFake) -> str:
    from tests.slack.conftest import BOT

    return BOT


def _answer_messages(fake: SlackFake, thread_ts: str) -> list[Any]:
    """The bot's messages in the thread, less the small ones holding Stop or Regenerate."""
    from tests.slack.conftest import holds_button

    return [
        m for m in fake.messages(CHANNEL, thread_ts) if m.user == _bot(fake) and not holds_button(m)
    ]


def _first_id(fake: SlackFake, thread_ts: str) -> str:
    mine = _answer_messages(fake, thread_ts)
    return f"{CHANNEL}:{mine[0].ts}" if mine else ""


def _shown(fake: SlackFake, thread_ts: str) -> str:
    return " ".join(m.body for m in _answer_messages(fake, thread_ts))


def _refused_sentence(fake: SlackFake) -> bool:
    return any(
        r.status == 500
        and r.method == "chat.postMessage"
        and wording.answer_not_shown()[:20] in str(r.args.get("text", ""))
        for r in fake.log.calls("chat.postMessage")
    )
