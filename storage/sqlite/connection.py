"""The one connection every ``SqliteStore`` method runs on, and the caches kept beside it.

The connection is in autocommit mode and an ``asyncio.Lock`` serialises the
store's methods, so one method's explicit transaction never swallows another's
statements. ``_writing`` holds the lock for a write and, when the write fails or
is interrupted, drops the history cache (it may have missed a committed change)
and says a file error as ``StorageUnavailable``. The mixins of ``SqliteStore``
(turns, conversations, recovery, buckets, installations) build on this class.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from bot.errors import StorageUnavailable
from storage.rows import KEY_MATCH, Row, key_params
from storage.schema import rollback
from storage.sqlite.cache import HistoryCache
from storage.sqlite.opening import data_version, unavailable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

    import aiosqlite

    from bot.domain import ThreadKey

_CONVERSATION_ID_CACHE = 4096


class Connection:
    """An open, migrated connection with its lock, conversation ids and history cache."""

    def __init__(
        self, db: aiosqlite.Connection, data_version: int, cache_turns: int, worker: str = ""
    ) -> None:
        """Use ``SqliteStore.open``; this only wires an already-migrated connection."""
        self.worker = worker  # recorded on every turn this store adds
        self._db = db
        self._lock = asyncio.Lock()
        self._data_version = data_version
        self._conversation_ids: dict[ThreadKey, int] = {}
        self._cache = HistoryCache(self._fetch, cache_turns)

    async def _fetch(self, sql: str, params: Iterable[object] = ()) -> list[Row]:
        """Run one statement and read all its rows in a single worker-thread round trip."""
        return [tuple(row) for row in await self._db.execute_fetchall(sql, params)]

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        """Hold the lock for a write; drop the history cache if the write is interrupted.

        A cancelled ``await`` does not stop a statement already queued on the worker
        thread, so after an interruption the cache may miss a committed change.
        """
        async with self._lock:
            try:
                yield
            except sqlite3.Error as error:
                self._cache.clear()
                if unavailable(error):  # the file, not the statement: said as a sentence
                    raise StorageUnavailable(error.sqlite_errorname) from error
                raise
            except BaseException:
                self._cache.clear()
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
        select = f"SELECT id FROM conversations WHERE {KEY_MATCH}"
        rows = await self._fetch(select, key_params(key))
        if not rows and create:
            rows = await self._fetch(
                "INSERT INTO conversations (platform, workspace, channel, thread, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
                (*key_params(key), time.time()),
            )
            if not rows:  # another process created it between the two statements
                rows = await self._fetch(select, key_params(key))
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
        version = await data_version(self._db)
        if version != self._data_version:
            self._data_version = version
            self._cache.clear()
            self._conversation_ids.clear()
