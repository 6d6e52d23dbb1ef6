"""A locked or full database while questions come in and answers are written.

Real faults, no mocks: another ``sqlite3`` connection holds ``BEGIN IMMEDIATE``
(another process writing, past the busy timeout), and ``PRAGMA max_page_count``
makes the file full, so SQLite itself answers ``SQLITE_BUSY`` / ``SQLITE_FULL``.

- A question that cannot be stored gets ``wording.cannot_save`` in its thread
  (it was never stored, and the database says so: no turn for it);
- when the database is back, the next question is answered: no restart needed;
- the database full mid-answer: the answer goes on, and its record ends
  ``complete`` with the whole text once the database takes writes again, not
  ``streaming``.

The real ``DiscordBot``, ``ReplyService`` and ``SqliteStore`` run.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot import wording
from bot.domain import Delivery, Role, TurnStatus
from bot.settings import UpstreamSettings
from bot.upstream import UpstreamClient
from storage import SqliteStore
from tests.discord.harness import FAST_DISCORD, RecordingDiscord, Rig
from tests.fakes.slack import SlackFake, SlackLimits
from tests.fakes.upstream import Answer, FakeUpstream
from tests.matrices.rigs import start_slack_bot
from tests.services import reply_service

BUSY_TIMEOUT_MS = 300  # how long a write waits on another process's lock


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "threadline.db"


@pytest.fixture
async def rig(
    path: Path, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> AsyncIterator[Rig]:
    async with (
        await SqliteStore.open(path, busy_timeout_ms=BUSY_TIMEOUT_MS) as store,
        RecordingDiscord(FAST_DISCORD) as fake,
    ):
        yield Rig(fake, store, client, upstream_settings)


@pytest.fixture
def locker(path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection to the same file (autocommit, so BEGIN is ours)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    yield conn
    conn.close()


async def ask(rig: Rig, text: str) -> int:
    """Mention the bot in a new thread; the thread's id."""
    asked = await rig.fake.dispatch_message(content=text, mentions_bot=True)
    return await rig.thread_of(asked)


async def stored_texts(store: SqliteStore, thread: int) -> list[str]:
    found = await store.find_by_message("discord", str(thread))  # the question's id
    if found is None:
        return []
    window = await store.history(found.key, token_budget=10**9, max_turns=100)
    return [t.text for t in window.turns]


async def test_a_question_the_locked_database_cannot_take_gets_a_sentence(
    rig: Rig, locker: sqlite3.Connection, upstream: FakeUpstream
) -> None:
    assert isinstance(rig.store, SqliteStore)
    upstream.answer = Answer(text="an answer")
    async with rig.bot():
        locker.execute("BEGIN IMMEDIATE")  # held past the busy timeout
        try:
            thread = await ask(rig, "are you there?")
            told = await rig.fake.wait_for_message(
                thread, lambda m: wording.cannot_save() in m.content, timeout=10
            )
        finally:
            locker.execute("ROLLBACK")
        assert await stored_texts(rig.store, thread) == []  # and the database says so
        # The lock is gone: the service takes questions again by itself.
        later = await ask(rig, "and now?")
        [answer] = await rig.answered(later, timeout=10)
    assert answer.content == "an answer"
    assert await stored_texts(rig.store, later) == ["and now?", "an answer"]
    assert told.content == f"⚠️ {wording.cannot_save()}"
    assert len(upstream.requests) == 1  # the unsaved one was not asked


async def test_a_question_the_full_database_cannot_take_gets_a_sentence(
    rig: Rig, upstream: FakeUpstream
) -> None:
    store = rig.store
    assert isinstance(store, SqliteStore)
    upstream.answer = Answer(text="an answer")
    async with rig.bot():
        full = await store.limit_pages()  # the file may not grow: SQLITE_FULL
        thread = await ask(rig, "x" * 20_000)  # needs new pages
        await rig.fake.wait_for_message(
            thread, lambda m: wording.cannot_save() in m.content, timeout=10
        )
        assert await stored_texts(store, thread) == []
        await store.limit_pages(full + 10_000)  # space again
        later = await ask(rig, "and now?")
        [answer] = await rig.answered(later, timeout=10)
    assert answer.content == "an answer"
    assert await stored_texts(store, later) == ["and now?", "an answer"]


async def test_an_answer_the_full_database_cut_is_recorded_when_space_returns(
    rig: Rig, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    store = rig.store
    assert isinstance(store, SqliteStore)
    words = " ".join(f"w{n}" for n in range(2_500))  # ~14 KB: its text needs new pages
    upstream.answer = Answer(text=words, tokens_per_s=1_000)
    async with rig.bot():
        thread = await ask(rig, "write a lot")
        first = await rig.fake.wait_for_message(thread, lambda m: "w1" in m.content, timeout=10)
        full = await store.limit_pages()  # full while the answer streams
        await asyncio.sleep(0.5)  # flushes fail meanwhile (the answer goes on)
        stuck = await store.find_by_message("discord", str(first.id))
        assert stuck is not None
        assert stuck.turn.status is TurnStatus.STREAMING
        await rig.fake.wait_for_message(thread, lambda m: m.content.endswith("w2499"), timeout=20)
        await asyncio.sleep(0.5)  # the last write is refused too, and tried again
        await store.limit_pages(full + 10_000)  # space again: the last write lands
        await rig.answered(thread, timeout=30)

        async def recorded() -> bool:
            found = await store.find_by_message("discord", str(first.id))
            return found is not None and found.turn.status is TurnStatus.COMPLETE

        async with asyncio.timeout(30):
            while not await recorded():
                await asyncio.sleep(0.05)
    found = await store.find_by_message("discord", str(first.id))
    assert found is not None
    assert found.turn.role is Role.ASSISTANT
    refused = [r.getMessage() for r in caplog.records if "SQLITE_FULL" in r.getMessage()]
    assert any("text so far" in line for line in refused)  # the flushes were refused
    assert any("could not record answer" in line for line in refused)  # and the last write
    assert (found.turn.text, found.turn.delivery) == (words, Delivery.DELIVERED)


async def test_a_slack_question_the_locked_database_cannot_take_gets_a_sentence(
    path: Path,
    locker: sqlite3.Connection,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    upstream: FakeUpstream,
) -> None:
    upstream.answer = Answer(text="an answer")
    async with (
        await SqliteStore.open(path, busy_timeout_ms=BUSY_TIMEOUT_MS) as store,
        SlackFake(limits=SlackLimits.fast()) as fake,
    ):
        service = reply_service(store, client, upstream_settings)
        bot = await start_slack_bot(fake, service, store, upstream_settings)
        try:
            locker.execute("BEGIN IMMEDIATE")
            try:
                asked = fake.payloads.app_mention("are you there?")
                await fake.send_event(asked)
                await fake.wait_for(
                    lambda: wording.cannot_save() in _thread_text(fake, asked["ts"]),
                    10,
                    "the sentence",
                )
            finally:
                locker.execute("ROLLBACK")
            later = fake.payloads.app_mention("and now?")
            await fake.send_event(later)
            await fake.wait_for(
                lambda: "an answer" in _thread_text(fake, later["ts"]), 10, "the answer"
            )
            await bot.idle()
        finally:
            await bot.stop()
        assert await store.find_by_message("slack", f"{SLACK_CHANNEL}:{asked['ts']}") is None
        assert await store.find_by_message("slack", f"{SLACK_CHANNEL}:{later['ts']}") is not None


SLACK_CHANNEL = "C0GENERAL1"


def _thread_text(fake: SlackFake, thread_ts: str) -> str:
    return " ".join(m.body for m in fake.messages(SLACK_CHANNEL, thread_ts))
