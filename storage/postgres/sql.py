"""Small helpers between the shared ``?``-marked SQL and asyncpg's ``$n`` parameters."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.errors import StorageUnavailable

# A connection, whether taken from a pool or opened alone.
Conn: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"

_MARK = re.compile(r"\?")


def numbered(sql: str) -> str:
    """``?`` marks as ``$1, $2, ...`` (the shared statements contain no literal ``?``)."""
    count = 0

    def next_mark(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    return _MARK.sub(next_mark, sql)


# Errors of the server or the connection, not of a statement: the write is refused
# and the user is told (``StorageUnavailable``), as SQLite's BUSY/FULL/READONLY are.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,
    asyncpg.exceptions.OperatorInterventionError,
)


@contextlib.contextmanager
def unavailable_as_storage_error() -> Iterator[None]:
    """Say a lost server or full disk as ``StorageUnavailable`` (its class name for the log)."""
    try:
        yield
    except _UNAVAILABLE as error:
        raise StorageUnavailable(type(error).__name__) from error
