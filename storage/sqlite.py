"""``ConversationStore`` on one SQLite file (aiosqlite, WAL).

Lifetime: ``SqliteStore.open`` is a coroutine returning an open store, which is
also an async context manager that closes it::

    async with await SqliteStore.open(path) as store:
        ...

Durability: WAL with ``synchronous=NORMAL``; every write method commits before it
returns, so a process crash (even SIGKILL) keeps every committed row and never
corrupts the file (a power cut may lose the last commits, not the file).
Opening a file migrates it to the newest schema (``storage.schema``) and refuses
a file written by a newer threadline with ``ConfigError``.

Concurrency: one connection whose statements run on aiosqlite's worker thread.
The connection is in autocommit mode and an ``asyncio.Lock`` serialises the
store's methods, so one method's explicit transaction never swallows another's
statements. Other processes may share the file (``busy_timeout`` waits on them).

History cache: reading and decoding the ~2,000 turns of a 100,000-token context
takes ~20-30 ms (bench/history.py), several times the 5 ms budget. So each
conversation keeps a ``_Window`` of its newest decoded turns in thread order,
patched by every write this store makes and dropped when a write is interrupted;
``PRAGMA data_version`` tells when another connection has committed to the file,
and then every cache is dropped. ``cache_turns`` bounds the decoded turns kept.
"""

from __future__ import annotations

import asyncio
import bisect
import sqlite3
import time
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import aiosqlite
import orjson

from bot.domain import (
    Bucket,
    ConversationSettings,
    Delivery,
    HistoryWindow,
    StoredTurn,
    ThreadKey,
    Turn,
    TurnStatus,
    TurnUpdate,
    Usage,
    installation_key,
    shortfalls,
)
from bot.errors import ConfigError, StorageUnavailable
from bot.lifetime import ClosesOnExit
from storage.schema import migrate, rollback, unreadable_file_message

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
    from pathlib import Path


__all__ = ["SqliteStore"]

from storage.rows import (
    KEY_COLUMNS as _KEY_COLUMNS,
)
from storage.rows import (
    KEY_MATCH as _KEY_MATCH,
)
from storage.rows import (
    OPEN_WORKERS_SQL,
    Row,
)
from storage.rows import (
    T_TURN_COLUMNS as _T_TURN_COLUMNS,
)
from storage.rows import (
    TURN_COLUMNS as _TURN_COLUMNS,
)
from storage.rows import (
    key_from as _key_from,
)
from storage.rows import (
    key_params as _key_params,
)
from storage.rows import (
    turn_from as _turn_from,
)
from storage.rows import (
    turn_values as _turn_values,
)
from storage.rows import (
    update_assignments as _update_assignments,
)

_INSERT_TURN = (
    "INSERT INTO turns (conversation_id, platform, role, text, author_id, author_name, "
    "requester_id, reply_to, parts, platform_message_id, reply_ids, status, model, "
    "prompt_tokens, completion_tokens, trace_id, tokens, created_at, updated_at, delivery, "
    "usage_estimated, worker) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING RETURNING id"
)
# Thread order is (coalesce(reply_to, id), id), the key of the turns_in_thread_order
# index. The separate ``coalesce(...) <= ?`` term lets SQLite seek the index; the
# row-value comparison then applies the exact bound.
_BEFORE = (
    "conversation_id = ? AND coalesce(reply_to, id) <= ? AND (coalesce(reply_to, id), id) < (?, ?) "
    "AND id > ? AND status <> 'failed'"
)
_PAGE_NEWEST_FIRST = (
    f"SELECT {_TURN_COLUMNS} FROM turns WHERE {_BEFORE} "
    "ORDER BY coalesce(reply_to, id) DESC, id DESC LIMIT ?"
)
_COUNT_BEFORE = f"SELECT count(*) FROM turns WHERE {_BEFORE}"
_PAGE_SIZE = 512
# A window keeps this many decoded turns beyond what the last history call used
# (so a slightly larger budget needs no reload), and is trimmed past twice that.
_WINDOW_SPARE = 64
_CONVERSATION_ID_CACHE = 4096

_FAILED = TurnStatus.FAILED
_PENDING = TurnStatus.PENDING
# Full buckets read the same as missing rows; sweep them out every this many takes.
PRUNE_BUCKETS_EVERY = 1_000


class SqliteStore(ClosesOnExit):
    """Thread history in SQLite; implements ``bot.ports.ConversationStore``."""

    def __init__(
        self, db: aiosqlite.Connection, data_version: int, cache_turns: int, worker: str = ""
    ) -> None:
        """Use ``SqliteStore.open``; this only wires an already-migrated connection."""
        self.worker = worker  # recorded on every turn this store adds
        self._db = db
        self._lock = asyncio.Lock()
        self._data_version = data_version
        self._cache_turns = cache_turns
        self._conversation_ids: dict[ThreadKey, int] = {}
        self._windows: OrderedDict[int, _Window] = OrderedDict()
        self._takes = 0

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        busy_timeout_ms: int = 5000,
        cache_turns: int = 50_000,
        worker: str = "",
    ) -> SqliteStore:
        """Open (creating and migrating as needed) the database file at ``path``.

        ``cache_turns`` bounds the decoded turns kept for fast ``history`` calls.
        Raises ``ConfigError`` when the file cannot be opened as a threadline database.
        """
        where = str(path)
        try:
            # Probe with plain sqlite3 first: when aiosqlite's own connect fails, its
            # worker thread may later report to a closed event loop (omnilib/aiosqlite#241).
            await asyncio.to_thread(_probe, where)
            db = await aiosqlite.connect(where, isolation_level=None)
        except sqlite3.Error as error:
            raise ConfigError(unreadable_file_message(where, str(error))) from error
        try:
            await _configure(db, busy_timeout_ms)
            await migrate(db, where)
            data_version = await _data_version(db)
        except sqlite3.Error as error:
            await db.close()
            raise ConfigError(unreadable_file_message(where, str(error))) from error
        except BaseException:
            await db.close()
            raise
        return cls(db, data_version, cache_turns, worker)

    async def limit_pages(self, pages: int | None = None) -> int:
        """Cap the file at ``pages`` pages (None: its size now); returns the cap.

        Past it SQLite answers ``SQLITE_FULL``, exactly as on a full disk: the fault
        tests use it to fill the database for real. A cap above the size lifts it.
        """
        async with self._lock:
            if pages is None:
                rows = await self._fetch("PRAGMA page_count")
                pages = int(rows[0][0])
            rows = await self._fetch(f"PRAGMA max_page_count = {int(pages)}")
        return int(rows[0][0])

    async def close(self) -> None:
        """Close the connection (idempotent); committed data is already on disk."""
        await self._db.close()

    # -- writes ---------------------------------------------------------------

    async def add_turn(self, key: ThreadKey, turn: Turn) -> Turn | None:
        """Store ``turn``; ``None`` if (platform, platform_message_id) is already stored.

        The common case (known conversation, no reply ids) is one statement and
        one commit: the unique index decides idempotency, not an exception.
        """
        async with self._writing():
            conversation_id = await self._conversation_id(key, create=True)
            assert conversation_id is not None
            # Its reply ids reach message_refs by trigger (schema v5).
            rows = await self._fetch(
                _INSERT_TURN, (*_turn_values(conversation_id, key.platform, turn), self.worker)
            )
            if not rows:
                return None
            stored = replace(turn, id=rows[0][0])
            self._append_to_window(conversation_id, stored)
            if stored.reply_to is not None:  # its question is answered now (trigger, schema v6)
                self._answered_in_window(conversation_id, stored.reply_to)
            return stored

    async def update_turn(self, turn_id: int, update: TurnUpdate) -> None:
        """Apply the non-``None`` fields of ``update``; a missing turn is left alone.

        (A user may delete their message while its answer streams; that is not an error.)
        """
        assignments, params = _update_assignments(update)
        sql = (
            f"UPDATE turns SET {assignments} WHERE id = ? "
            f"RETURNING conversation_id, {_TURN_COLUMNS}"
        )
        async with self._writing():
            # New reply ids reach message_refs by trigger (schema v5): one statement.
            rows = await self._fetch(sql, (*params, turn_id))
            if rows:
                conversation_id, *columns = rows[0]
                self._patch_window(conversation_id, _turn_from(columns), update.status is not None)

    async def update_texts(self, texts: Mapping[int, str]) -> None:
        """Every streaming answer's text so far, in one statement (the service's flush):
        one worker-thread trip and one commit a second for all answers, not one each."""
        if not texts:
            return
        ids = list(texts)
        cases = " ".join("WHEN ? THEN ?" for _ in ids)
        sql = (
            f"UPDATE turns SET text = CASE id {cases} END, updated_at = ? "
            f"WHERE id IN ({', '.join('?' for _ in ids)}) AND status = 'streaming' "
            f"RETURNING conversation_id, {_TURN_COLUMNS}"
        )
        params = [value for turn_id in ids for value in (turn_id, texts[turn_id])]
        async with self._writing():
            for conversation_id, *columns in await self._fetch(sql, (*params, time.time(), *ids)):
                self._patch_window(conversation_id, _turn_from(columns), status_changed=False)

    async def edit_message(self, platform: str, message_id: str, text: str, tokens: int) -> bool:
        """A platform message was edited: store its new text and size. True if found."""
        async with self._writing():
            rows = await self._fetch(
                "UPDATE turns SET text = ?, tokens = ?, updated_at = ? "
                "WHERE platform = ? AND platform_message_id = ? "
                f"RETURNING conversation_id, {_TURN_COLUMNS}",
                (text, tokens, time.time(), platform, message_id),
            )
            if rows:
                conversation_id, *columns = rows[0]
                self._patch_window(conversation_id, _turn_from(columns), status_changed=False)
            return bool(rows)

    async def delete_message(self, platform: str, message_id: str) -> bool:
        """A platform message was deleted: forget its turn (and reply refs). True if found."""
        async with self._writing():
            rows = await self._fetch(
                "DELETE FROM turns WHERE platform = ? AND platform_message_id = ? "
                "RETURNING conversation_id, id, reply_to, status",
                (platform, message_id),
            )
            for conversation_id, turn_id, reply_to, status in rows:
                self._forget_in_window(conversation_id, turn_id, reply_to, status)
            return bool(rows)

    async def save_settings(self, key: ThreadKey, settings: ConversationSettings) -> None:
        """Replace the conversation's overrides (``None`` fields go back to the defaults)."""
        async with self._writing():
            rows = await self._fetch(
                "INSERT INTO conversations (platform, workspace, channel, thread, model, "
                "system_prompt, temperature, max_tokens, response_format, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (platform, workspace, channel, thread) DO UPDATE SET "
                "model = excluded.model, system_prompt = excluded.system_prompt, "
                "temperature = excluded.temperature, max_tokens = excluded.max_tokens, "
                "response_format = excluded.response_format RETURNING id",
                (
                    *_key_params(key),
                    settings.model,
                    settings.system_prompt,
                    settings.temperature,
                    settings.max_tokens,
                    settings.response_format,
                    time.time(),
                ),
            )
            self._remember(key, rows[0][0])

    async def reset(self, key: ThreadKey) -> None:
        """Start later history after the current newest turn; settings stay.

        ``max`` keeps an earlier boundary when the turns after it were deleted.
        """
        async with self._writing():
            rows = await self._fetch(
                "UPDATE conversations SET context_start_turn_id = max(context_start_turn_id, "
                "(SELECT coalesce(max(id), 0) FROM turns WHERE conversation_id = conversations.id)) "
                f"WHERE {_KEY_MATCH} RETURNING id",
                _key_params(key),
            )
            for (conversation_id,) in rows:
                self._windows.pop(conversation_id, None)

    async def interrupt_streaming(
        self, workers: Collection[str] | None = None, *, platforms: Collection[str] | None = None
    ) -> list[StoredTurn]:
        """Mark the ``streaming`` turns of ``workers`` on ``platforms`` (None: every one)
        ``interrupted`` (recovery at start or after a worker died) and return them."""
        now = time.time()
        chosen, params = _among(("t.worker", workers), ("t.platform", platforms))
        async with self._writing(), self._transaction():
            rows = await self._fetch(
                f"SELECT {_KEY_COLUMNS}, {_T_TURN_COLUMNS} FROM turns t "
                "JOIN conversations c ON c.id = t.conversation_id "
                f"WHERE t.status = 'streaming' {chosen}ORDER BY t.id",
                params,
            )
            await self._db.executemany(
                # In the same write: its messages still show it half-written, so the
                # platform repair is owed until a start has done it (bot/delivery.py).
                "UPDATE turns SET status = 'interrupted', delivery = 'pending', updated_at = ? "
                "WHERE id = ?",
                [(now, row[4]) for row in rows],
            )
            self._windows.clear()
        return [
            StoredTurn(
                _key_from(row),
                replace(
                    _turn_from(row[4:]),
                    status=TurnStatus.INTERRUPTED,
                    delivery=Delivery.PENDING,
                    updated_at=now,
                ),
            )
            for row in rows
        ]

    async def open_workers(self) -> list[str]:
        """The workers holding a ``streaming`` answer or a ``pending`` question."""
        async with self._lock:
            rows = await self._fetch(OPEN_WORKERS_SQL)
        return [str(row[0]) for row in rows]

    async def adopt_questions(
        self,
        workers: Collection[str],
        *,
        since: float,
        platforms: Collection[str] | None = None,
    ) -> list[StoredTurn]:
        """The ``pending`` questions of ``workers`` (on ``platforms``; None: every one)
        become this store's worker's, in one write; those asked since ``since`` and
        after their thread's reset are returned."""
        chosen, params = _among(("worker", workers), ("platform", platforms))
        async with self._writing(), self._transaction():
            moved = await self._fetch(
                f"UPDATE turns SET worker = ? WHERE status = 'pending' {chosen}RETURNING id",
                (self.worker, *params),
            )
            rows = await self._fetch(
                f"SELECT {_KEY_COLUMNS}, {_T_TURN_COLUMNS} FROM turns t "
                "JOIN conversations c ON c.id = t.conversation_id "
                "WHERE t.id IN (SELECT value FROM json_each(?)) "
                "AND t.created_at >= ? AND t.id > c.context_start_turn_id ORDER BY t.id",
                (orjson.dumps([row[0] for row in moved]).decode(), since),
            )
        return [StoredTurn(_key_from(row), _turn_from(row[4:])) for row in rows]

    async def unanswered_questions(self, *, since: float) -> list[StoredTurn]:
        """``pending`` questions asked since ``since``, after their thread's reset, oldest first."""
        async with self._lock:
            rows = await self._fetch(
                f"SELECT {_KEY_COLUMNS}, {_T_TURN_COLUMNS} FROM turns t "
                "JOIN conversations c ON c.id = t.conversation_id "
                "WHERE t.status = 'pending' AND t.created_at >= ? "
                "AND t.id > c.context_start_turn_id ORDER BY t.id",
                (since,),
            )
        return [StoredTurn(_key_from(row), _turn_from(row[4:])) for row in rows]

    async def recent_conversations(
        self, platform: str, *, since: float
    ) -> list[tuple[ThreadKey, str]]:
        """Each conversation on ``platform`` whose newest question (a user turn with a
        platform message id) was stored at or after ``since``, with that message id;
        oldest first."""
        async with self._lock:
            rows = await self._fetch(
                f"SELECT {_KEY_COLUMNS}, t.platform_message_id FROM turns t "
                "JOIN conversations c ON c.id = t.conversation_id "
                "WHERE t.id IN (SELECT max(id) FROM turns WHERE platform = ? AND role = 'user' "
                "AND platform_message_id IS NOT NULL GROUP BY conversation_id) "
                "AND t.created_at >= ? ORDER BY t.id",
                (platform, since),
            )
        return [(_key_from(row), str(row[4])) for row in rows]

    async def undelivered_answers(self, platform: str) -> list[StoredTurn]:
        """Answers on ``platform`` whose final text is still owed (delivery ``pending``,
        no longer ``streaming``), oldest first."""
        async with self._lock:
            rows = await self._fetch(
                f"SELECT {_KEY_COLUMNS}, {_T_TURN_COLUMNS} FROM turns t "
                "JOIN conversations c ON c.id = t.conversation_id "
                "WHERE t.delivery = 'pending' AND t.status <> 'streaming' AND t.platform = ? "
                "ORDER BY t.id",
                (platform,),
            )
        return [StoredTurn(_key_from(row), _turn_from(row[4:])) for row in rows]

    async def take_tokens(self, buckets: Sequence[Bucket], *, now: float) -> tuple[float, ...]:
        """One token from every bucket, or none (see ``ConversationStore``); one transaction."""
        if not buckets:
            return ()
        scopes = [bucket.scope for bucket in buckets]
        marks = ", ".join("?" * len(scopes))
        async with self._writing(), self._transaction():
            rows = await self._fetch(
                f"SELECT scope, level, updated_at FROM rate_buckets WHERE scope IN ({marks})",
                scopes,
            )
            stored = {scope: (level, at) for scope, level, at in rows}
            levels = [bucket.level(stored.get(bucket.scope), now) for bucket in buckets]
            waits = shortfalls(buckets, levels)
            if not any(waits):
                await self._db.executemany(
                    "INSERT OR REPLACE INTO rate_buckets (scope, level, updated_at) "
                    "VALUES (?, ?, ?)",
                    [
                        (scope, level - 1.0, now)
                        for scope, level in zip(scopes, levels, strict=True)
                    ],
                )
            self._takes += 1
            if self._takes % PRUNE_BUCKETS_EVERY == 0:
                await self._prune_full_buckets(buckets, now)
        return waits

    async def _prune_full_buckets(self, buckets: Sequence[Bucket], now: float) -> None:
        """Drop rows of buckets that have refilled (a missing row reads as full)."""
        # Every bucket of one kind refills within ``capacity / per_second`` seconds;
        # the slowest of the buckets at hand bounds what "long enough" means.
        slowest = max(bucket.capacity / bucket.per_second for bucket in buckets)
        await self._db.execute("DELETE FROM rate_buckets WHERE updated_at < ?", (now - slowest,))

    # -- Slack installations -------------------------------------------------

    async def save_installation(self, record: Mapping[str, object]) -> None:
        """Keep the install under its user and as the workspace's newest (user "")."""
        encoded = orjson.dumps(dict(record)).decode()
        rows = [(*installation_key(record), encoded, time.time())]
        if rows[0][2]:
            rows.append((rows[0][0], rows[0][1], "", encoded, time.time()))
        async with self._writing(), self._transaction():
            await self._db.executemany(
                "INSERT OR REPLACE INTO installations "
                "(enterprise_id, team_id, user_id, record, saved_at) VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    async def find_installation(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> dict[str, object] | None:
        async with self._lock:
            rows = await self._fetch(
                "SELECT record FROM installations "
                "WHERE enterprise_id = ? AND team_id = ? AND user_id = ?",
                (enterprise_id or "", team_id or "", user_id or ""),
            )
        return dict(orjson.loads(rows[0][0])) if rows else None

    async def delete_installation(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        """One user's install, or (no user) every install of the workspace."""
        where = "enterprise_id = ? AND team_id = ?"
        params: tuple[str, ...] = (enterprise_id or "", team_id or "")
        if user_id:
            where, params = f"{where} AND user_id = ?", (*params, user_id)
        async with self._writing(), self._transaction():
            await self._db.execute(f"DELETE FROM installations WHERE {where}", params)

    # -- reads ----------------------------------------------------------------

    async def get_turn(self, turn_id: int) -> Turn | None:
        async with self._lock:
            rows = await self._fetch(f"SELECT {_TURN_COLUMNS} FROM turns WHERE id = ?", (turn_id,))
        return _turn_from(rows[0]) if rows else None

    async def history(
        self, key: ThreadKey, *, token_budget: int, max_turns: int, through: int | None = None
    ) -> HistoryWindow:
        """The newest eligible turns that fit ``token_budget`` (see ``ConversationStore``).

        Served from the conversation's cached window; the database is read only
        when the window is missing, too shallow, or another connection wrote.
        """
        _check_max_turns(max_turns)
        limit = _Limit(token_budget, max_turns, _THE_END if through is None else (through, through))
        async with self._lock:
            await self._drop_caches_if_changed_elsewhere()
            conversation_id = await self._conversation_id(key, create=False)
            if conversation_id is None:
                return HistoryWindow((), 0)
            window = self._windows.get(conversation_id)
            taken = None if window is None else window.take(limit)
            if window is None or taken is None:
                window, taken = await self._load_and_take(conversation_id, limit)
                self._evict_windows(keep=conversation_id)
            self._windows.move_to_end(conversation_id)
            result = window.result(limit, taken)
            window.trim(limit, taken)
            return result

    async def find_by_message(self, platform: str, message_id: str) -> StoredTurn | None:
        """The turn a platform message belongs to: the message itself or one of its replies."""
        async with self._lock:
            rows = await self._fetch(
                f"SELECT {_KEY_COLUMNS}, {_T_TURN_COLUMNS} FROM turns t "
                "JOIN conversations c ON c.id = t.conversation_id "
                "WHERE t.platform = ? AND t.platform_message_id = ? "
                f"UNION ALL SELECT {_KEY_COLUMNS}, {_T_TURN_COLUMNS} FROM message_refs r "
                "JOIN turns t ON t.id = r.turn_id JOIN conversations c ON c.id = t.conversation_id "
                "WHERE r.platform = ? AND r.message_id = ? LIMIT 1",
                (platform, message_id, platform, message_id),
            )
        if not rows:
            return None
        return StoredTurn(_key_from(rows[0]), _turn_from(rows[0][4:]))

    async def has_conversation(self, key: ThreadKey) -> bool:
        """True once the thread has at least one stored turn (of any status)."""
        async with self._lock:
            rows = await self._fetch(
                "SELECT EXISTS (SELECT 1 FROM turns WHERE conversation_id = "
                f"(SELECT id FROM conversations WHERE {_KEY_MATCH}))",
                _key_params(key),
            )
        return bool(rows[0][0])

    async def settings(self, key: ThreadKey) -> ConversationSettings:
        async with self._lock:
            rows = await self._fetch(
                "SELECT model, system_prompt, temperature, max_tokens, response_format "
                f"FROM conversations WHERE {_KEY_MATCH}",
                _key_params(key),
            )
        if not rows:
            return ConversationSettings()
        return ConversationSettings(*rows[0])

    async def usage_since(
        self,
        since: float,
        *,
        platform: str,
        workspace: str | None = None,
        channel: str | None = None,
        requester_id: str | None = None,
    ) -> Usage:
        """Summed usage of turns created at or after ``since`` (epoch seconds) that match."""
        # The usage condition repeats the partial index's WHERE so SQLite can use it.
        where = [
            "t.platform = ?",
            "t.created_at >= ?",
            "(t.prompt_tokens IS NOT NULL OR t.completion_tokens IS NOT NULL)",
        ]
        params: list[object] = [platform, since]
        for column, value in (
            ("c.workspace", workspace),
            ("c.channel", channel),
            ("t.requester_id", requester_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        async with self._lock:
            rows = await self._fetch(
                "SELECT coalesce(sum(t.prompt_tokens), 0), coalesce(sum(t.completion_tokens), 0), "
                "coalesce(sum(CASE WHEN t.usage_estimated THEN "
                "coalesce(t.prompt_tokens, 0) + coalesce(t.completion_tokens, 0) END), 0) "
                "FROM turns t JOIN conversations c ON c.id = t.conversation_id "
                f"WHERE {' AND '.join(where)}",
                params,
            )
        return Usage(rows[0][0], rows[0][1], rows[0][2])

    # -- internals ------------------------------------------------------------

    async def _fetch(self, sql: str, params: Iterable[object] = ()) -> list[Row]:
        """Run one statement and read all its rows in a single worker-thread round trip."""
        return [tuple(row) for row in await self._db.execute_fetchall(sql, params)]

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        """Hold the lock for a write; drop the history caches if the write is interrupted.

        A cancelled ``await`` does not stop a statement already queued on the worker
        thread, so after an interruption the caches may miss a committed change.
        """
        async with self._lock:
            try:
                yield
            except sqlite3.Error as error:
                self._windows.clear()
                if _unavailable(error):  # the file, not the statement: said as a sentence
                    raise StorageUnavailable(error.sqlite_errorname) from error
                raise
            except BaseException:
                self._windows.clear()
                raise

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        """One explicit write transaction; callers hold ``self._lock``.

        BEGIN and COMMIT sit inside the ``try``: a cancelled await still runs its
        statement, so any interruption queues a ROLLBACK behind it rather than
        leave the connection inside a transaction.
        """
        try:
            await self._db.execute("BEGIN IMMEDIATE")
            yield
            await self._db.execute("COMMIT")
        except BaseException:
            await rollback(self._db)
            raise

    async def _conversation_id(self, key: ThreadKey, *, create: bool) -> int | None:
        """The conversation's row id, from the cache when possible; created if asked."""
        cached = self._conversation_ids.get(key)
        if cached is not None:
            return cached
        select = f"SELECT id FROM conversations WHERE {_KEY_MATCH}"
        rows = await self._fetch(select, _key_params(key))
        if not rows and create:
            rows = await self._fetch(
                "INSERT INTO conversations (platform, workspace, channel, thread, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
                (*_key_params(key), time.time()),
            )
            if not rows:  # another process created it between the two statements
                rows = await self._fetch(select, _key_params(key))
        if not rows:
            return None
        self._remember(key, rows[0][0])
        return int(rows[0][0])

    def _remember(self, key: ThreadKey, conversation_id: int) -> None:
        """Cache a conversation id, dropping the oldest entry past the bound."""
        if key not in self._conversation_ids and len(self._conversation_ids) >= (
            _CONVERSATION_ID_CACHE
        ):
            del self._conversation_ids[next(iter(self._conversation_ids))]
        self._conversation_ids[key] = conversation_id

    async def _drop_caches_if_changed_elsewhere(self) -> None:
        """Drop every cache when another connection has committed to the file."""
        version = await _data_version(self._db)
        if version != self._data_version:
            self._data_version = version
            self._windows.clear()
            self._conversation_ids.clear()

    async def _load_and_take(self, conversation_id: int, limit: _Limit) -> tuple[_Window, int]:
        """Load a window deep enough for this call, and take from it."""
        window = await self._load_window(conversation_id, limit)
        taken = window.take(limit)
        if taken is None:  # only with negative token counts: load the whole thread
            window = await self._load_window(conversation_id, _Limit(_MAX_ID, _MAX_ID, _THE_END))
            taken = window.take(limit)
        assert taken is not None, "a window holding every turn always answers"
        return window, taken

    async def _load_window(self, conversation_id: int, limit: _Limit) -> _Window:
        """Decode pages in reverse thread order until the turns at or before
        ``limit.through`` pass the budget or ``max_turns`` (or the thread ends)."""
        rows = await self._fetch(
            "SELECT context_start_turn_id FROM conversations WHERE id = ?", (conversation_id,)
        )
        start = int(rows[0][0])
        newest_first: list[Turn] = []
        below, spent, counted = _THE_END, 0, 0
        while True:
            page = await self._fetch(
                _PAGE_NEWEST_FIRST, (conversation_id, below[0], *below, start, _PAGE_SIZE)
            )
            for turn in map(_turn_from, page):
                newest_first.append(turn)
                if _order(turn) <= limit.through:
                    spent += turn.tokens
                    counted += 1
            if len(page) < _PAGE_SIZE:
                window = _Window(start, _FIRST, 0, newest_first[::-1])
                break
            below = _order(newest_first[-1])
            if spent > limit.budget or counted > limit.max_turns:
                older = await self._count_eligible(conversation_id, start, below)
                window = _Window(start, below, older, newest_first[::-1])
                break
        self._windows[conversation_id] = window
        return window

    async def _count_eligible(
        self, conversation_id: int, start: int, below: tuple[int, int]
    ) -> int:
        rows = await self._fetch(_COUNT_BEFORE, (conversation_id, below[0], *below, start))
        return int(rows[0][0])

    def _evict_windows(self, *, keep: int) -> None:
        """Drop least recently used windows while the cache holds too many turns."""
        total = sum(len(window.turns) for window in self._windows.values())
        for conversation_id in list(self._windows):
            if total <= self._cache_turns:
                break
            if conversation_id != keep:
                total -= len(self._windows.pop(conversation_id).turns)

    def _append_to_window(self, conversation_id: int, turn: Turn) -> None:
        window = self._windows.get(conversation_id)
        if window is not None:
            window.add(turn)

    def _answered_in_window(self, conversation_id: int, question_id: int) -> None:
        window = self._windows.get(conversation_id)
        if window is not None:
            window.answered(question_id)

    def _patch_window(self, conversation_id: int, turn: Turn, status_changed: bool) -> None:
        window = self._windows.get(conversation_id)
        if window is not None and not window.patch(turn, status_changed):
            del self._windows[conversation_id]

    def _forget_in_window(
        self, conversation_id: int, turn_id: int, reply_to: int | None, status: str
    ) -> None:
        window = self._windows.get(conversation_id)
        if window is not None:
            window.forget(turn_id, reply_to, status)


_MAX_ID = 2**63 - 1  # the largest SQLite rowid: above every turn id
_THE_END = (_MAX_ID, _MAX_ID)  # ordered after every turn
_FIRST = (0, 0)  # ordered at or before every turn


@dataclass(frozen=True, slots=True)
class _Limit:
    """One history call's limits; ``through`` is the last thread-order key it may use."""

    budget: int
    max_turns: int
    through: tuple[int, int]


@dataclass(slots=True)
class _Window:
    """The newest decoded turns of one conversation, in thread order (see ``_order``).

    Invariant: ``turns`` holds exactly the eligible turns (id after ``start``, the
    reset boundary; not failed) ordered at or after ``boundary``; ``older`` counts
    the eligible turns ordered before it.
    """

    start: int
    boundary: tuple[int, int]
    older: int
    turns: list[Turn]

    def end(self, limit: _Limit) -> int:
        """Index just past the last turn at or before ``limit.through``."""
        if limit.through is _THE_END:
            return len(self.turns)
        return bisect.bisect_right(self.turns, limit.through, key=_order)

    def take(self, limit: _Limit) -> int | None:
        """How many turns before ``end`` fit; ``None`` if the window is too shallow to tell."""
        end = self.end(limit)
        spent = taken = 0
        for index in range(end - 1, -1, -1):
            tokens = self.turns[index].tokens
            if taken == limit.max_turns or (taken and spent + tokens > limit.budget):
                return taken
            spent += tokens
            taken += 1
        return taken if self.older == 0 or taken == limit.max_turns else None

    def result(self, limit: _Limit, taken: int) -> HistoryWindow:
        end = self.end(limit)
        return HistoryWindow(tuple(self.turns[end - taken : end]), self.older + end - taken)

    def trim(self, limit: _Limit, taken: int) -> None:
        """Bound the window to what history used plus a spare margin."""
        spare = self.end(limit) - taken
        if spare > 2 * _WINDOW_SPARE:
            cut = spare - _WINDOW_SPARE
            del self.turns[:cut]
            self.older += cut
            self.boundary = _order(self.turns[0])

    def add(self, turn: Turn) -> None:
        """Reflect a new turn: usually the newest, but an answer goes after its question."""
        if turn.status == _FAILED:
            return
        if _order(turn) < self.boundary:
            self.older += 1
        else:
            bisect.insort(self.turns, turn, key=_order)

    def patch(self, turn: Turn, status_changed: bool) -> bool:
        """Reflect an updated turn; False when the window can no longer be trusted."""
        key = _order(turn)
        if _id(turn) <= self.start:
            return True
        if key < self.boundary:
            # An uncached older turn: only a status change can alter ``older``.
            return not status_changed
        index = bisect.bisect_left(self.turns, key, key=_order)
        present = index < len(self.turns) and _order(self.turns[index]) == key
        if turn.status == _FAILED:
            if present:
                del self.turns[index]
        elif present:
            self.turns[index] = turn
        else:
            self.turns.insert(index, turn)
        return True

    def answered(self, question_id: int) -> None:
        """Reflect the trigger that marks an answered ``pending`` question ``complete``.

        A question sorts at its own id; any other turn it may be is looked for by id.
        """
        key = (question_id, question_id)
        if question_id <= self.start or key < self.boundary:
            return  # not in the window, and ``older`` counts it either way
        index = bisect.bisect_left(self.turns, key, key=_order)
        if not (index < len(self.turns) and self.turns[index].id == question_id):
            index = next((i for i, t in enumerate(self.turns) if t.id == question_id), -1)
        if index >= 0 and self.turns[index].status is _PENDING:
            self.turns[index] = replace(self.turns[index], status=TurnStatus.COMPLETE)

    def forget(self, turn_id: int, reply_to: int | None, status: str) -> None:
        """Reflect a deleted turn."""
        if turn_id <= self.start or status == _FAILED:
            return
        key = (turn_id if reply_to is None else reply_to, turn_id)
        if key < self.boundary:
            self.older -= 1
            return
        index = bisect.bisect_left(self.turns, key, key=_order)
        if index < len(self.turns) and _order(self.turns[index]) == key:
            del self.turns[index]


def _id(turn: Turn) -> int:
    """A stored turn's id (always set on turns read from the database)."""
    assert turn.id is not None
    return turn.id


def _order(turn: Turn) -> tuple[int, int]:
    """A turn's place in its thread: an answer sorts right after its question."""
    turn_id = _id(turn)
    return (turn_id if turn.reply_to is None else turn.reply_to, turn_id)


def _among(*choices: tuple[str, Collection[str] | None]) -> tuple[str, tuple[str, ...]]:
    """``AND column IN (...)`` terms (each ending in a space) for the choices not None."""
    terms, params = [], []
    for column, values in choices:
        if values is not None:
            terms.append(f"AND {column} IN (SELECT value FROM json_each(?)) ")
            params.append(orjson.dumps(list(values)).decode())
    return "".join(terms), tuple(params)


def _probe(path: str) -> None:
    """Open and close ``path`` once, so an unopenable path fails here."""
    sqlite3.connect(path).close()


def _check_max_turns(max_turns: int) -> None:
    if max_turns < 1:
        raise ValueError(f"max_turns must be at least 1, not {max_turns}")


async def _configure(db: aiosqlite.Connection, busy_timeout_ms: int) -> None:
    """Connection pragmas; busy_timeout first so the WAL switch waits on other processes."""
    await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    await db.execute("PRAGMA journal_mode = WAL")
    await db.execute("PRAGMA synchronous = NORMAL")
    await db.execute("PRAGMA foreign_keys = ON")


async def _data_version(db: aiosqlite.Connection) -> int:
    rows = await db.execute_fetchall("PRAGMA data_version")
    return int(next(iter(rows))[0])


# Errors of the file, not of a statement (https://www.sqlite.org/rescode.html): BUSY
# and LOCKED past the busy timeout, FULL, READONLY, IOERR, CANTOPEN (primary codes).
_UNAVAILABLE = frozenset({5, 6, 8, 10, 13, 14})


def _unavailable(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _UNAVAILABLE
