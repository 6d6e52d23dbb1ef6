"""Rate buckets on SQLite: take one token from every bucket, or none, in one transaction.

Levels live in ``rate_buckets`` (schema v4), so a restart does not hand everyone a
fresh burst; the arithmetic is the domain's (``Bucket.level``, ``shortfalls``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.domain import Bucket, shortfalls
from storage.sqlite.connection import Connection

if TYPE_CHECKING:
    from collections.abc import Sequence

# Full buckets read the same as missing rows; sweep them out every this many takes.
PRUNE_BUCKETS_EVERY = 1_000


class Buckets(Connection):
    """``take_tokens``."""

    _takes = 0  # per store: the first ``+=`` makes it an instance attribute

    async def take_tokens(self, buckets: Sequence[Bucket], *, now: float) -> tuple[float, ...]:
        """One token from every bucket, or none (see ``ConversationStore``); one transaction."""
        if not buckets:
            return ()
        scopes = [bucket.scope for bucket in buckets]
        marks = ", ".join("?" * len(scopes))
        async with self._writing(), self._transaction():
            rows = await self._fetch(
                f"SELECT scope, level, updated_at FROM rate_buckets WHERE scope IN ({marks})",
                scopes,
            )
            stored = {scope: (level, at) for scope, level, at in rows}
            levels = [bucket.level(stored.get(bucket.scope), now) for bucket in buckets]
            waits = shortfalls(buckets, levels)
            if not any(waits):
                await self._db.executemany(
                    "INSERT OR REPLACE INTO rate_buckets (scope, level, updated_at) "
                    "VALUES (?, ?, ?)",
                    [
                        (scope, level - 1.0, now)
                        for scope, level in zip(scopes, levels, strict=True)
                    ],
                )
            self._takes += 1
            if self._takes % PRUNE_BUCKETS_EVERY == 0:
                await self._prune_full_buckets(buckets, now)
        return waits

    async def _prune_full_buckets(self, buckets: Sequence[Bucket], now: float) -> None:
        """Drop rows of buckets that have refilled (a missing row reads as full)."""
        # Every bucket of one kind refills within ``capacity / per_second`` seconds;
        # the slowest of the buckets at hand bounds what "long enough" means.
        slowest = max(bucket.capacity / bucket.per_second for bucket in buckets)
        await self._db.execute("DELETE FROM rate_buckets WHERE updated_at < ?", (now - slowest,))
