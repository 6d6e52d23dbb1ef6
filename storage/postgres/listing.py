"""``threadline threads`` and ``history`` on PostgreSQL: read only, never migrating.

The same rows as ``storage.listing`` reads from a SQLite file; a database with no
threadline tables yet reads as holding no conversations.
"""

from __future__ import annotations

import asyncpg

from bot import wording
from bot.domain import ThreadKey
from bot.errors import ConfigError
from bot.redact import url_without_password
from storage.listing import THREADS_SQL, TURNS_SQL, ListedTurn, ThreadSummary, listed
from storage.postgres.probe import reason
from storage.postgres.sql import numbered

_EXISTS = numbered(
    "SELECT 1 FROM conversations WHERE platform = ? AND workspace = ? AND channel = ? "
    "AND thread = ?"
)


async def threads(url: str) -> list[ThreadSummary]:
    """Every stored conversation, the most recently active first."""
    rows = await _read(url, THREADS_SQL)
    return [
        ThreadSummary(ThreadKey(*row[:4]), turns=row[5], model=row[4], last_at=row[6])
        for row in rows or []
    ]


async def turns(url: str, key: ThreadKey) -> list[ListedTurn] | None:
    """The conversation's turns in order, or None when no such conversation is stored."""
    params = (key.platform, key.workspace, key.channel, key.thread)
    if not await _read(url, _EXISTS, *params):
        return None
    rows = await _read(url, numbered(TURNS_SQL), *params)
    return [listed(tuple(row)) for row in rows or []]


async def _read(url: str, sql: str, *params: object) -> list[asyncpg.Record] | None:
    """Rows of one read-only query; None when the tables do not exist yet."""
    try:
        conn = await asyncpg.connect(url, timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        shown = url_without_password(url)
        raise ConfigError(wording.postgres_unreachable(shown, reason(error))) from None
    try:
        async with conn.transaction(readonly=True):
            return list(await conn.fetch(sql, *params))
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await conn.close()
