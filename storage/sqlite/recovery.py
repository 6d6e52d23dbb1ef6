"""What a start or a takeover reads and changes on SQLite: streaming answers cut off,
questions still owed an answer, answers whose final text is owed to the platform.

``interrupt_streaming`` and ``adopt_questions`` are one transaction each, so two
processes sharing the file never both take the same turns.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

import orjson

from bot.domain import Delivery, StoredTurn, ThreadKey, TurnStatus
from storage.rows import key_from, turn_from
from storage.sqlite.connection import Connection
from storage.statements import (
    OPEN_WORKERS,
    RECENT_CONVERSATIONS,
    UNANSWERED_QUESTIONS,
    UNDELIVERED_ANSWERS,
    WITH_KEY,
)

if TYPE_CHECKING:
    from collections.abc import Collection

    from storage.rows import Row


class Recovery(Connection):
    """``interrupt_streaming``, ``open_workers``, ``adopt_questions``,
    ``unanswered_questions``, ``recent_conversations`` and ``undelivered_answers``."""

    async def interrupt_streaming(
        self, workers: Collection[str] | None = None, *, platforms: Collection[str] | None = None
    ) -> list[StoredTurn]:
        """Mark the ``streaming`` turns of ``workers`` on ``platforms`` (None: every one)
        ``interrupted`` (recovery at start or after a worker died) and return them."""
        now = time.time()
        chosen, params = _among(("t.worker", workers), ("t.platform", platforms))
        async with self._writing(), self._transaction():
            rows = await self._fetch(
                f"{WITH_KEY}WHERE t.status = 'streaming' {chosen}ORDER BY t.id", params
            )
            await self._db.executemany(
                # In the same write: its messages still show it half-written, so the
                # platform repair is owed until a start has done it (bot/delivery.py).
                "UPDATE turns SET status = 'interrupted', delivery = 'pending', updated_at = ? "
                "WHERE id = ?",
                [(now, row[4]) for row in rows],
            )
            self._cache.clear()
        return [
            StoredTurn(
                key_from(row),
                replace(
                    turn_from(row[4:]),
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
            rows = await self._fetch(OPEN_WORKERS)
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
                f"{WITH_KEY}WHERE t.id IN (SELECT value FROM json_each(?)) "
                "AND t.created_at >= ? AND t.id > c.context_start_turn_id ORDER BY t.id",
                (orjson.dumps([row[0] for row in moved]).decode(), since),
            )
        return _stored(rows)

    async def unanswered_questions(self, *, since: float) -> list[StoredTurn]:
        """``pending`` questions asked since ``since``, after their thread's reset, oldest first."""
        async with self._lock:
            rows = await self._fetch(UNANSWERED_QUESTIONS, (since,))
        return _stored(rows)

    async def recent_conversations(
        self, platform: str, *, since: float
    ) -> list[tuple[ThreadKey, str]]:
        """Each conversation on ``platform`` whose newest question (a user turn with a
        platform message id) was stored at or after ``since``, with that message id;
        oldest first."""
        async with self._lock:
            rows = await self._fetch(RECENT_CONVERSATIONS, (platform, since))
        return [(key_from(row), str(row[4])) for row in rows]

    async def undelivered_answers(self, platform: str) -> list[StoredTurn]:
        """Answers on ``platform`` whose final text is still owed (delivery ``pending``,
        no longer ``streaming``), oldest first."""
        async with self._lock:
            rows = await self._fetch(UNDELIVERED_ANSWERS, (platform,))
        return _stored(rows)


def _stored(rows: list[Row]) -> list[StoredTurn]:
    """Rows read with ``WITH_KEY`` as turns with their thread's key."""
    return [StoredTurn(key_from(row), turn_from(row[4:])) for row in rows]


def _among(*choices: tuple[str, Collection[str] | None]) -> tuple[str, tuple[str, ...]]:
    """``AND column IN (...)`` terms (each ending in a space) for the choices not None."""
    terms, params = [], []
    for column, values in choices:
        if values is not None:
            terms.append(f"AND {column} IN (SELECT value FROM json_each(?)) ")
            params.append(orjson.dumps(list(values)).decode())
    return "".join(terms), tuple(params)
