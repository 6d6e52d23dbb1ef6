"""Slack installations on SQLite: one JSON document per enterprise, team and user (v9)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import orjson

from bot.domain import installation_key
from storage.sqlite.connection import Connection

if TYPE_CHECKING:
    from collections.abc import Mapping


class Installations(Connection):
    """``save_installation``, ``find_installation`` and ``delete_installation``."""

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
