"""Can threadline write its PostgreSQL database? Asked by ``threadline check``, changing nothing.

Connecting is not enough (a read-only replica, a user without rights): the probe
creates a table inside a transaction it rolls back.
"""

from __future__ import annotations

import asyncpg

from bot import wording
from bot.redact import url_without_password


async def postgres_problem(url: str) -> str | None:
    """The sentence saying why ``url`` cannot be used as the database, or None."""
    shown = url_without_password(url)
    try:
        conn = await asyncpg.connect(url, timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        return wording.postgres_unreachable(shown, reason(error))
    try:
        async with conn.transaction():
            await conn.execute("CREATE TABLE threadline_check (x integer)")
            raise _Probed
    except _Probed:
        return None
    except asyncpg.PostgresError as error:
        return wording.postgres_unreachable(shown, reason(error))
    finally:
        await conn.close()


class _Probed(Exception):
    """Raised inside the probe's transaction so that it rolls back."""


def reason(error: BaseException) -> str:
    """Why a connection or a write failed, in words that never carry the URL's password."""
    if isinstance(error, asyncpg.InvalidPasswordError):
        return "the server refused the user name or password"
    if isinstance(error, asyncpg.InvalidCatalogNameError):
        return "no such database on the server"
    if isinstance(error, asyncpg.InsufficientPrivilegeError):
        return "the user may not create tables there"
    if isinstance(error, asyncpg.ReadOnlySQLTransactionError):
        return "the server is read-only"
    if isinstance(error, TimeoutError):
        return "no answer within 10 seconds"
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    return type(error).__name__
