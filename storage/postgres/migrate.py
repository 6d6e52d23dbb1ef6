"""Bring a PostgreSQL database to the newest schema, once, however many workers start.

The version lives in ``threadline_schema``; the upgrade runs in one transaction
(PostgreSQL DDL is transactional) holding a transaction-scoped advisory lock, so
workers starting together queue on the lock and the later ones find nothing to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import wording
from bot.errors import ConfigError
from storage.postgres.sql import Conn
from storage.schema import LATEST_VERSION, steps

if TYPE_CHECKING:
    pass

# Any constant both sides agree on: "thrdline" in ASCII.
MIGRATION_LOCK = 0x7468_72646C_696E65


async def migrate(conn: Conn, where: str, *, target: int = LATEST_VERSION) -> int:
    """Upgrade to ``target`` (default: newest); return the version found.

    Refuses a database written by a newer threadline with ``ConfigError``.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS threadline_schema (version INTEGER NOT NULL)"
        )
        found = await conn.fetchval("SELECT max(version) FROM threadline_schema")
        found = int(found or 0)
        if found > LATEST_VERSION:
            raise ConfigError(wording.postgres_newer_schema(where, found, LATEST_VERSION))
        for statement in steps("postgres", found, target):
            await conn.execute(statement)
        if target > found:
            await conn.execute("DELETE FROM threadline_schema")
            await conn.execute("INSERT INTO threadline_schema (version) VALUES ($1)", target)
    return found
