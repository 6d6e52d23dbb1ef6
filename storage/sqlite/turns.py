"""Turns on SQLite: store, update, edit and delete them, and find them again.

Each write is one statement and one commit, and tells the history cache what it
changed (the ``RETURNING`` rows carry it), so the next ``history`` needs no read.
Reply ids reach ``message_refs`` by trigger (schema v5), and storing an answer
marks its question ``complete`` by trigger (schema v6).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.domain import StoredTurn, ThreadKey, Turn, TurnUpdate
from storage.rows import TURN_COLUMNS, key_from, turn_from, turn_values, update_assignments
from storage.sqlite.connection import Connection
from storage.statements import FIND_BY_MESSAGE, GET_TURN, INSERT_TURN

if TYPE_CHECKING:
    from collections.abc import Mapping


class Turns(Connection):
    """``add_turn``, ``update_turn``, ``update_texts``, ``edit_message``, ``delete_message``,
    ``get_turn`` and ``find_by_message``."""

    async def add_turn(self, key: ThreadKey, turn: Turn) -> Turn | None:
        """Store ``turn``; ``None`` if (platform, platform_message_id) is already stored.

        The common case (known conversation, no reply ids) is one statement and
        one commit: the unique index decides idempotency, not an exception.
        """
        async with self._writing():
            conversation_id = await self._conversation_id(key, create=True)
            assert conversation_id is not None
            rows = await self._fetch(
                INSERT_TURN, (*turn_values(conversation_id, key.platform, turn), self.worker)
            )
            if not rows:
                return None
            stored = replace(turn, id=rows[0][0])
            self._cache.added(conversation_id, stored)
            if stored.reply_to is not None:  # its question is answered now (trigger, schema v6)
                self._cache.answered(conversation_id, stored.reply_to)
            return stored

    async def update_turn(self, turn_id: int, update: TurnUpdate) -> None:
        """Apply the non-``None`` fields of ``update``; a missing turn is left alone.

        (A user may delete their message while its answer streams; that is not an error.)
        """
        assignments, params = update_assignments(update)
        sql = (
            f"UPDATE turns SET {assignments} WHERE id = ? RETURNING conversation_id, {TURN_COLUMNS}"
        )
        async with self._writing():
            rows = await self._fetch(sql, (*params, turn_id))
            if rows:
                conversation_id, *columns = rows[0]
                self._cache.patched(conversation_id, turn_from(columns), update.status is not None)

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
            f"RETURNING conversation_id, {TURN_COLUMNS}"
        )
        params = [value for turn_id in ids for value in (turn_id, texts[turn_id])]
        async with self._writing():
            for conversation_id, *columns in await self._fetch(sql, (*params, time.time(), *ids)):
                self._cache.patched(conversation_id, turn_from(columns), status_changed=False)

    async def edit_message(self, platform: str, message_id: str, text: str, tokens: int) -> bool:
        """A platform message was edited: store its new text and size. True if found."""
        async with self._writing():
            rows = await self._fetch(
                "UPDATE turns SET text = ?, tokens = ?, updated_at = ? "
                "WHERE platform = ? AND platform_message_id = ? "
                f"RETURNING conversation_id, {TURN_COLUMNS}",
                (text, tokens, time.time(), platform, message_id),
            )
            if rows:
                conversation_id, *columns = rows[0]
                self._cache.patched(conversation_id, turn_from(columns), status_changed=False)
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
                self._cache.forgotten(conversation_id, turn_id, reply_to, status)
            return bool(rows)

    async def get_turn(self, turn_id: int) -> Turn | None:
        async with self._lock:
            rows = await self._fetch(GET_TURN, (turn_id,))
        return turn_from(rows[0]) if rows else None

    async def find_by_message(self, platform: str, message_id: str) -> StoredTurn | None:
        """The turn a platform message belongs to: the message itself or one of its replies."""
        async with self._lock:
            rows = await self._fetch(FIND_BY_MESSAGE, (platform, message_id, platform, message_id))
        if not rows:
            return None
        return StoredTurn(key_from(rows[0]), turn_from(rows[0][4:]))
