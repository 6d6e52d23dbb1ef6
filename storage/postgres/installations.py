"""Slack installations on PostgreSQL: one JSON document per enterprise, team and user.

A mixin of ``PostgresStore`` (kept apart so that each module stays short); the
contract is ``ConversationStore``'s ``save_installation`` and friends.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from bot.domain import installation_key
from storage.postgres.sql import unavailable_as_storage_error

if TYPE_CHECKING:
    from collections.abc import Mapping

    import asyncpg


class Installations:
    """``save_installation``, ``find_installation`` and ``delete_installation``."""

    _pool: asyncpg.Pool[Any]

    async def _fetch(self, sql: str, *params: object) -> list[asyncpg.Record]:
        raise NotImplementedError

    async def save_installation(self, record: Mapping[str, object]) -> None:
        """Keep the install under its user and as the workspace's newest (user "")."""
        encoded = orjson.dumps(dict(record)).decode()
        enterprise, team, user = installation_key(record)
        rows = [(enterprise, team, user, encoded, time.time())]
        if user:
            rows.append((enterprise, team, "", encoded, time.time()))
        with unavailable_as_storage_error():
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.executemany(
                    "INSERT INTO installations (enterprise_id, team_id, user_id, record, saved_at) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (enterprise_id, team_id, user_id) "
                    "DO UPDATE SET record = excluded.record, saved_at = excluded.saved_at",
                    rows,
                )

    async def find_installation(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> dict[str, object] | None:
        rows = await self._fetch(
            "SELECT record FROM installations "
            "WHERE enterprise_id = $1 AND team_id = $2 AND user_id = $3",
            enterprise_id or "",
            team_id or "",
            user_id or "",
        )
        return dict(orjson.loads(rows[0][0])) if rows else None

    async def delete_installation(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        """One user's install, or (no user) every install of the workspace."""
        await self._fetch(
            "DELETE FROM installations WHERE enterprise_id = $1 AND team_id = $2 "
            "AND ($3 = '' OR user_id = $3)",
            enterprise_id or "",
            team_id or "",
            user_id or "",
        )
