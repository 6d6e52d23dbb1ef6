"""Opening a SQLite file as a threadline database, and saying what went wrong.

``connect`` probes the path, sets the pragmas, migrates the file
(``storage.schema``) and reads ``PRAGMA data_version``; a path SQLite cannot
open, or a file it cannot read as a database, becomes ``ConfigError`` with the
operator's sentence. ``unavailable`` tells the errors of the file (locked, full,
read-only) from the errors of a statement, so a write can say the former as
``StorageUnavailable``.
"""

from __future__ import annotations

import asyncio
import sqlite3

import aiosqlite

from bot.errors import ConfigError
from storage.schema import migrate, unreadable_file_message

# Errors of the file, not of a statement (https://www.sqlite.org/rescode.html): BUSY
# and LOCKED past the busy timeout, FULL, READONLY, IOERR, CANTOPEN (primary codes).
_UNAVAILABLE = frozenset({5, 6, 8, 10, 13, 14})


async def connect(where: str, busy_timeout_ms: int) -> tuple[aiosqlite.Connection, int]:
    """An autocommit connection to the migrated file, and its ``data_version``."""
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
        return db, await data_version(db)
    except sqlite3.Error as error:
        await db.close()
        raise ConfigError(unreadable_file_message(where, str(error))) from error
    except BaseException:
        await db.close()
        raise


async def data_version(db: aiosqlite.Connection) -> int:
    """Changes when another connection commits to the file (not when this one does)."""
    rows = await db.execute_fetchall("PRAGMA data_version")
    return int(next(iter(rows))[0])


def unavailable(error: sqlite3.Error) -> bool:
    """True when ``error`` is about the file (locked, full, read-only), not the statement."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _UNAVAILABLE


def _probe(path: str) -> None:
    """Open and close ``path`` once, so an unopenable path fails here."""
    sqlite3.connect(path).close()


async def _configure(db: aiosqlite.Connection, busy_timeout_ms: int) -> None:
    """Connection pragmas; busy_timeout first so the WAL switch waits on other processes."""
    await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    await db.execute("PRAGMA journal_mode = WAL")
    await db.execute("PRAGMA synchronous = NORMAL")
    await db.execute("PRAGMA foreign_keys = ON")
