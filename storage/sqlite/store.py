"""``SqliteStore``: the ``ConversationStore`` on one SQLite file, assembled from its parts.

Lifetime: ``SqliteStore.open`` is a coroutine returning an open store, which is
also an async context manager that closes it::

    async with await SqliteStore.open(path) as store:
        ...

Durability: WAL with ``synchronous=NORMAL``; every write method commits before it
returns, so a process crash (even SIGKILL) keeps every committed row and never
corrupts the file (a power cut may lose the last commits, not the file).
Opening a file migrates it to the newest schema (``storage.schema``) and refuses
a file written by a newer threadline with ``ConfigError``.

Concurrency: one connection whose statements run on aiosqlite's worker thread,
one method at a time (``storage.sqlite.connection``). Other processes may share
the file (``busy_timeout`` waits on them); ``PRAGMA data_version`` tells when one
has committed, and then the history cache (``storage.sqlite.cache``) is dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.lifetime import ClosesOnExit
from storage.sqlite.buckets import Buckets
from storage.sqlite.conversations import Conversations
from storage.sqlite.installations import Installations
from storage.sqlite.opening import connect
from storage.sqlite.recovery import Recovery
from storage.sqlite.turns import Turns

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["SqliteStore"]


class SqliteStore(Turns, Conversations, Recovery, Buckets, Installations, ClosesOnExit):
    """Thread history in SQLite; implements ``bot.ports.ConversationStore``."""

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        busy_timeout_ms: int = 5000,
        cache_turns: int = 50_000,
        worker: str = "",
    ) -> SqliteStore:
        """Open (creating and migrating as needed) the database file at ``path``.

        ``cache_turns`` bounds the decoded turns kept for fast ``history`` calls.
        Raises ``ConfigError`` when the file cannot be opened as a threadline database.
        """
        db, data_version = await connect(str(path), busy_timeout_ms)
        return cls(db, data_version, cache_turns, worker)

    async def limit_pages(self, pages: int | None = None) -> int:
        """Cap the file at ``pages`` pages (None: its size now); returns the cap.

        Past it SQLite answers ``SQLITE_FULL``, exactly as on a full disk: the fault
        tests use it to fill the database for real. A cap above the size lifts it.
        """
        async with self._lock:
            if pages is None:
                rows = await self._fetch("PRAGMA page_count")
                pages = int(rows[0][0])
            rows = await self._fetch(f"PRAGMA max_page_count = {int(pages)}")
        return int(rows[0][0])

    async def close(self) -> None:
        """Close the connection (idempotent); committed data is already on disk."""
        await self._db.close()
