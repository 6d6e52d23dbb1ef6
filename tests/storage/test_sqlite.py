"""What only the SQLite store promises: migrations, durability, the file, its cache."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import storage.sqlite.buckets
import storage.sqlite.cache
import storage.sqlite.window
from bot.domain import (
    Bucket,
    ConversationSettings,
    HistoryWindow,
    Role,
    ThreadKey,
    Turn,
    TurnStatus,
    TurnUpdate,
    Usage,
)
from bot.errors import ConfigError, StorageUnavailable
from storage import MemoryStore, SqliteStore
from storage.schema import LATEST_VERSION, migrate

KEY = ThreadKey("discord", "g", "c", "t")
OTHER = ThreadKey("discord", "g", "c", "t2")
REPO_ROOT = Path(__file__).resolve().parents[2]


def query_one(path: Path, sql: str) -> object:
    """One value read through a separate plain sqlite3 connection."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchone()[0]


def user_version(path: Path) -> object:
    return query_one(path, "PRAGMA user_version")


def count_rows(path: Path, table: str) -> object:
    return query_one(path, f"SELECT count(*) FROM {table}")


async def history(store: SqliteStore, key: ThreadKey = KEY, budget: int = 1000) -> list[str]:
    window = await store.history(key, token_budget=budget, max_turns=1000)
    return [turn.text for turn in window.turns]


# -- migrations -------------------------------------------------------------------


async def write_v1_file(path: Path) -> None:
    """A file as the first schema version left it, with a conversation and two turns."""
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await migrate(conn, str(path), target=1)
        await conn.execute(
            "INSERT INTO conversations (platform, workspace, channel, thread, model, created_at) "
            "VALUES ('discord', 'g', 'c', 't', 'gpt-4o', 1.0)"
        )
        await conn.executemany(
            "INSERT INTO turns (conversation_id, platform, role, author_id, text, "
            "platform_message_id, status, tokens, created_at) "
            "VALUES (1, 'discord', ?, ?, ?, ?, 'complete', ?, ?)",
            [
                ("user", "u1", "old question", "m-1", 3, 10.0),
                ("assistant", "", "old answer", None, 4, 11.0),
            ],
        )


async def test_v1_file_is_upgraded_in_place_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    await write_v1_file(path)
    assert user_version(path) == 1

    async with await SqliteStore.open(path) as store:
        assert user_version(path) == LATEST_VERSION
        window = await store.history(KEY, token_budget=100, max_turns=10)
        assert [(t.text, t.usage, t.reply_message_ids) for t in window.turns] == [
            ("old question", None, ()),
            ("old answer", None, ()),
        ]
        assert (await store.settings(KEY)).model == "gpt-4o"
        assert (
            await store.add_turn(KEY, Turn(role=Role.USER, text="dup", platform_message_id="m-1"))
            is None
        )
        # v2 features work on the upgraded file.
        answer = window.turns[1]
        assert answer.id == 2
        await store.update_turn(
            answer.id, TurnUpdate(usage=Usage(5, 6), reply_message_ids=("r-1",))
        )
        found = await store.find_by_message("discord", "r-1")
        assert found is not None
        assert found.turn.text == "old answer"
        assert await store.usage_since(0.0, platform="discord") == Usage(5, 6)
        new = await store.add_turn(KEY, Turn(role=Role.USER, text="new"))
        assert new is not None
        assert new.id is not None
        assert new.id > 2
        await store.add_turn(KEY, Turn(role=Role.ASSISTANT, text="late", reply_to=1))
        assert await history(store) == ["old question", "late", "old answer", "new"]


async def test_questions_stored_before_v6_are_not_asked_again(tmp_path: Path) -> None:
    """v5 had no ``pending``: a question it stored without an answer (a crash, or
    context a Slack thread brought in) reads as answered after the upgrade."""
    path = tmp_path / "v5.db"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await migrate(conn, str(path), target=5)
        await conn.execute(
            "INSERT INTO conversations (platform, workspace, channel, thread, created_at) "
            "VALUES ('discord', 'g', 'c', 't', 1.0)"
        )
        await conn.execute(
            "INSERT INTO turns (conversation_id, platform, role, text, platform_message_id, "
            "status, created_at) VALUES (1, 'discord', 'user', 'no answer', 'm-1', 'complete', ?)",
            (time.time(),),
        )
    async with await SqliteStore.open(path) as store:
        assert user_version(path) == LATEST_VERSION
        assert await store.unanswered_questions(since=0.0) == []
        asked = await store.add_turn(
            KEY, Turn(role=Role.USER, text="new", status=TurnStatus.PENDING)
        )
        assert asked is not None
        assert [u.turn.text for u in await store.unanswered_questions(since=0.0)] == ["new"]


async def test_migrating_an_up_to_date_file_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    await (await SqliteStore.open(path)).close()
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        assert await migrate(conn, str(path)) == LATEST_VERSION
    assert user_version(path) == LATEST_VERSION


async def test_a_file_from_a_newer_threadline_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(ConfigError, match="newer threadline") as raised:
        await SqliteStore.open(path)
    assert f"schema version {LATEST_VERSION + 1}" in raised.value.user_message
    assert str(path) in raised.value.user_message
    assert user_version(path) == LATEST_VERSION + 1
    assert count_rows(path, "sqlite_master") == 0


async def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    """Some other program's database: the upgrade fails halfway and rolls back whole."""
    path = tmp_path / "foreign.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE turns (x)")  # v1 creates conversations, then fails here
    with pytest.raises(ConfigError, match="cannot open the database"):
        await SqliteStore.open(path)
    assert user_version(path) == 0
    assert query_one(path, "SELECT group_concat(name) FROM sqlite_master") == "turns"


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are not the tables you are looking for\n" * 100)
    with pytest.raises(ConfigError, match="cannot open the database"):
        await SqliteStore.open(path)


async def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open the database"):
        await SqliteStore.open(tmp_path / "missing" / "t.db")


# -- the file ----------------------------------------------------------------------


async def test_wal_foreign_keys_and_pragmas_are_on(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with await SqliteStore.open(path, busy_timeout_ms=1234) as store:
        # Per-connection settings can only be read on the store's own connection.
        pragmas = {}
        for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout"):
            rows = await store._db.execute_fetchall(f"PRAGMA {name}")
            pragmas[name] = next(iter(rows))[0]
        assert pragmas == {
            "journal_mode": "wal",
            "foreign_keys": 1,
            "synchronous": 1,  # NORMAL
            "busy_timeout": 1234,
        }
        # foreign_keys=ON is what makes deleting a turn cascade to its reply refs.
        await store.add_turn(
            KEY, Turn(role=Role.USER, text="q", platform_message_id="m", reply_message_ids=("r",))
        )
        assert count_rows(path, "message_refs") == 1
        assert await store.delete_message("discord", "m")
        assert count_rows(path, "message_refs") == 0


async def test_message_refs_follow_reply_ids_whoever_writes_them(tmp_path: Path) -> None:
    """Triggers (schema v5) keep the lookup index in step, even for another program's write."""
    path = tmp_path / "t.db"
    async with await SqliteStore.open(path) as store:
        answer = await store.add_turn(
            KEY, Turn(role=Role.ASSISTANT, text="a", reply_message_ids=("r-1",))
        )
        assert answer is not None
        with contextlib.closing(sqlite3.connect(path)) as other, other:
            other.execute(
                'UPDATE turns SET reply_ids = \'["r-2", "r-3"]\' WHERE id = ?', (answer.id,)
            )
        assert await store.find_by_message("discord", "r-1") is None
        found = await store.find_by_message("discord", "r-3")
        assert found is not None
        assert found.turn.id == answer.id
        assert count_rows(path, "message_refs") == 2


async def test_reopening_keeps_turns_settings_refs_and_resets(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with await SqliteStore.open(path) as store:
        await store.add_turn(KEY, Turn(role=Role.USER, text="before reset"))
        await store.reset(KEY)
        await store.add_turn(KEY, Turn(role=Role.USER, text="q", platform_message_id="m-1"))
        await store.add_turn(
            KEY, Turn(role=Role.ASSISTANT, text="a", reply_message_ids=("r-1",), usage=Usage(1, 2))
        )
        await store.save_settings(KEY, ConversationSettings(system_prompt="Be kind."))
    async with await SqliteStore.open(path) as store:
        assert await history(store) == ["q", "a"]
        assert (await store.settings(KEY)).system_prompt == "Be kind."
        found = await store.find_by_message("discord", "r-1")
        assert found is not None
        assert found.turn.usage == Usage(1, 2)
        assert (
            await store.add_turn(KEY, Turn(role=Role.USER, text="q", platform_message_id="m-1"))
            is None
        )


async def test_writes_by_another_connection_are_seen_despite_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with await SqliteStore.open(path) as reader, await SqliteStore.open(path) as writer:
        first = await reader.add_turn(
            KEY, Turn(role=Role.USER, text="one", platform_message_id="m-1")
        )
        assert first is not None
        assert first.id is not None
        assert await history(reader) == ["one"]
        await writer.add_turn(KEY, Turn(role=Role.USER, text="two"))
        assert await history(reader) == ["one", "two"]
        await writer.edit_message("discord", "m-1", "one, edited", 1)
        assert await history(reader) == ["one, edited", "two"]
        await writer.update_turn(first.id, TurnUpdate(status=TurnStatus.FAILED))
        assert await history(reader) == ["two"]
        await writer.reset(KEY)
        assert await history(reader) == []
        # and the reader's own conversation-id cache survives the writer's new rows
        await reader.add_turn(KEY, Turn(role=Role.USER, text="three"))
        assert await history(writer) == ["three"]


async def test_a_small_cache_evicts_other_threads_without_changing_answers(tmp_path: Path) -> None:
    keys = [ThreadKey("discord", "g", "c", f"t{i}") for i in range(6)]
    async with await SqliteStore.open(tmp_path / "t.db", cache_turns=10) as store:
        for round_ in range(3):
            for key in keys:
                await store.add_turn(key, Turn(role=Role.USER, text=f"{key.thread}-{round_}"))
                window = await store.history(key, token_budget=100, max_turns=100)
                assert [t.text for t in window.turns] == [
                    f"{key.thread}-{r}" for r in range(round_ + 1)
                ]


async def test_cancelled_writes_never_leave_the_cache_wrong(tmp_path: Path) -> None:
    """A cancelled await may still commit its queued statement; history must agree."""
    path = tmp_path / "t.db"
    async with await SqliteStore.open(path) as store, await SqliteStore.open(path) as truth:
        first = await store.add_turn(KEY, Turn(role=Role.USER, text="first", tokens=1))
        assert first is not None
        assert first.id is not None
        for attempt in range(40):
            await history(store)  # keep a warm window to go stale
            if attempt % 2:
                write = store.add_turn(KEY, Turn(role=Role.USER, text=f"t{attempt}", tokens=1))
            else:
                write = store.update_turn(first.id, TurnUpdate(text=f"first {attempt}"))
            task = asyncio.ensure_future(write)
            for _ in range(attempt % 4):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert await history(store) == await history(truth)


# -- durability --------------------------------------------------------------------

_WRITER = """
import asyncio, sys
from bot.domain import Role, ThreadKey, Turn
from storage import SqliteStore

async def main(path: str) -> None:
    store = await SqliteStore.open(path)
    key = ThreadKey("discord", "g", "c", "t")
    i = 0
    while True:
        refs = (f"r-{i}-a", f"r-{i}-b") if i % 2 else ()  # odd turns take the transaction path
        turn = Turn(role=Role.USER, text="x" * 300, platform_message_id=f"m-{i}",
                    reply_message_ids=refs, tokens=75)
        stored = await store.add_turn(key, turn)
        print(stored.id, flush=True)
        i += 1

asyncio.run(main(sys.argv[1]))
"""


def test_sigkill_mid_write_loses_no_committed_turn(tmp_path: Path) -> None:
    """Kill a real writer process; every id it reported as stored must be there."""
    path = tmp_path / "t.db"
    reported: list[int] = []
    with subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as writer:
        assert writer.stdout is not None
        while len(reported) < 300:
            line = writer.stdout.readline()
            assert line, "the writer process stopped before it was killed"
            reported.append(int(line))
        os.kill(writer.pid, signal.SIGKILL)
        reported.extend(int(line) for line in writer.stdout.read().split())
        assert writer.wait() == -signal.SIGKILL

    assert query_one(path, "PRAGMA integrity_check") == "ok"
    # A turn with reply ids and its refs are committed together or not at all.
    torn = query_one(
        path,
        "SELECT count(*) FROM turns t WHERE reply_ids IS NOT NULL "
        "AND (SELECT count(*) FROM message_refs r WHERE r.turn_id = t.id) <> 2",
    )
    assert torn == 0

    async def check() -> None:
        async with await SqliteStore.open(path) as store:
            for turn_id in reported:
                assert await store.get_turn(turn_id) is not None

    asyncio.run(check())


# -- property: the SQLite store (with its cache) answers like the plain model ------

_THREADS = st.sampled_from([KEY, KEY, KEY, OTHER])
_STATUSES = st.sampled_from(list(TurnStatus))
_MESSAGE_IDS = st.one_of(st.none(), st.integers(0, 40).map(str))
_EARLIER = st.one_of(st.none(), st.integers(0, 60))  # picks an already added turn, if any
_ADD = st.tuples(st.just("add"), _THREADS, st.integers(0, 5), _STATUSES, _MESSAGE_IDS, _EARLIER)
_HISTORY = st.tuples(st.just("history"), _THREADS, st.integers(-1, 15), st.integers(1, 8), _EARLIER)
_UPDATE = st.tuples(
    st.just("update"),
    st.integers(0, 60),
    st.one_of(st.none(), _STATUSES),
    st.one_of(st.none(), st.integers(0, 5)),
)
_DELETE = st.tuples(st.just("delete"), st.integers(0, 40).map(str))
_EDIT = st.tuples(st.just("edit"), st.integers(0, 40).map(str), st.integers(0, 5))
# Repetition weights the mix: many adds and reads, few resets (a reset empties a thread).
_OPS = st.lists(
    st.one_of(
        *[_ADD] * 10,
        *[_HISTORY] * 6,
        *[_UPDATE] * 3,
        *[_DELETE] * 3,
        *[_EDIT] * 2,
        # A reset empties a thread, so it is rare: one draw in ten of this branch.
        st.tuples(st.just("reset"), _THREADS, st.integers(0, 9)),
    ),
    min_size=50,
    max_size=200,
)


def _check_window(window: HistoryWindow, budget: int, max_turns: int) -> None:
    assert len(window.turns) <= max_turns
    assert len(window.turns) <= 1 or sum(t.tokens for t in window.turns) <= budget
    assert all(t.status != TurnStatus.FAILED for t in window.turns)
    order = [(t.id if t.reply_to is None else t.reply_to, t.id) for t in window.turns]
    assert order == sorted(order)  # thread order: an answer right after its question


class _Twin:
    """The same operations on the plain model and on SQLite, compared as they go."""

    def __init__(self, model: MemoryStore, real: SqliteStore) -> None:
        self.model = model
        self.real = real
        self.added: list[tuple[int, int]] = []  # (model id, real id) of each stored turn

    def pick(self, earlier: int | None) -> tuple[int | None, int | None]:
        if earlier is None or not self.added:
            return None, None
        return self.added[earlier % len(self.added)]

    async def add(
        self,
        number: int,
        key: ThreadKey,
        tokens: int,
        status: TurnStatus,
        message_id: str | None,
        earlier: int | None,
    ) -> None:
        def make(reply_to: int | None) -> Turn:
            return Turn(
                role=Role.USER,
                text=f"turn {number}",
                tokens=tokens,
                status=status,
                platform_message_id=message_id,
                reply_to=reply_to,
            )

        model_to, real_to = self.pick(earlier)
        a = await self.model.add_turn(key, make(model_to))
        b = await self.real.add_turn(key, make(real_to))
        assert (a is None) == (b is None)
        if a is not None and b is not None and a.id is not None and b.id is not None:
            self.added.append((a.id, b.id))

    async def update(
        self, number: int, earlier: int, status: TurnStatus | None, tokens: int | None
    ) -> None:
        model_id, real_id = self.pick(earlier)
        if model_id is not None and real_id is not None:
            update = TurnUpdate(status=status, tokens=tokens, text=f"updated {number}")
            await self.model.update_turn(model_id, update)
            await self.real.update_turn(real_id, update)

    async def edit(self, number: int, message_id: str, tokens: int) -> None:
        text = f"edited {number}"
        assert await self.model.edit_message("discord", message_id, text, tokens) == (
            await self.real.edit_message("discord", message_id, text, tokens)
        )

    async def delete(self, message_id: str) -> None:
        assert await self.model.delete_message("discord", message_id) == (
            await self.real.delete_message("discord", message_id)
        )

    async def reset(self, key: ThreadKey, coin: int = 0) -> None:
        if coin:
            return
        await self.model.reset(key)
        await self.real.reset(key)

    async def history(
        self, key: ThreadKey, budget: int, max_turns: int, earlier: int | None = None
    ) -> None:
        model_through, real_through = self.pick(earlier)
        expected = await self.model.history(
            key, token_budget=budget, max_turns=max_turns, through=model_through
        )
        got = await self.real.history(
            key, token_budget=budget, max_turns=max_turns, through=real_through
        )
        _check_window(expected, budget, max_turns)
        assert [(t.text, t.tokens, t.status) for t in got.turns] == [
            (t.text, t.tokens, t.status) for t in expected.turns
        ]
        assert got.omitted == expected.omitted


async def _run_ops(ops: list[tuple[Any, ...]], path: Path) -> None:
    async with await SqliteStore.open(path, cache_turns=30) as real:
        twin = _Twin(MemoryStore(), real)
        for number, (name, *args) in enumerate(ops):
            if name in ("add", "update", "edit"):
                args = [number, *args]
            await getattr(twin, name)(*args)
        for key in (KEY, OTHER):
            await twin.history(key, 10_000, 1000)


@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(ops=_OPS)
def test_sqlite_history_matches_the_memory_model(ops: list[tuple[Any, ...]]) -> None:
    # Shrink the paging constants so short sequences cross page, trim and reload paths.
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as tmp:
        patch.setattr(storage.sqlite.cache, "PAGE_SIZE", 3)
        patch.setattr(storage.sqlite.window, "WINDOW_SPARE", 1)
        asyncio.run(_run_ops(ops, Path(tmp) / "t.db"))


# -- rate buckets ---------------------------------------------------------------------


async def test_an_emptied_bucket_stays_empty_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "threadline.db"
    bucket = Bucket("user:discord:u1", capacity=1, per_second=0.01)
    async with await SqliteStore.open(path) as store:
        assert await store.take_tokens([bucket], now=0.0) == (0.0,)
    async with await SqliteStore.open(path) as store:
        assert await store.take_tokens([bucket], now=1.0) == (pytest.approx(99.0),)


async def test_refilled_buckets_are_swept_out_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage.sqlite.buckets, "PRUNE_BUCKETS_EVERY", 3)
    path = tmp_path / "threadline.db"
    async with await SqliteStore.open(path) as store:
        for user in ("a", "b"):
            await store.take_tokens([Bucket(f"user:{user}", 2, per_second=1.0)], now=0.0)
        # The third take sweeps: a and b refilled long ago (2 s), c is fresh.
        await store.take_tokens([Bucket("user:c", 2, per_second=1.0)], now=100.0)
    assert query_one(path, "SELECT group_concat(scope) FROM rate_buckets") == "user:c"


# -- a database that will not take writes (issue 22 point 3) ----------------------------


async def test_a_write_past_another_process_lock_is_storage_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    async with await SqliteStore.open(path, busy_timeout_ms=100) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StorageUnavailable) as raised:
                await store.add_turn(KEY, Turn(role=Role.USER, text="hello"))
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert raised.value.reason == "SQLITE_BUSY"
        assert await store.add_turn(KEY, Turn(role=Role.USER, text="hello")) is not None


async def test_a_write_to_a_full_file_is_storage_unavailable(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "full.db") as store:
        pages = await store.limit_pages()
        with pytest.raises(StorageUnavailable) as raised:
            await store.add_turn(KEY, Turn(role=Role.USER, text="x" * 50_000))
        assert raised.value.reason == "SQLITE_FULL"
        assert await store.limit_pages(pages + 100) == pages + 100
        assert await store.add_turn(KEY, Turn(role=Role.USER, text="x" * 50_000)) is not None
