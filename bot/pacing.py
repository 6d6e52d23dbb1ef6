"""Token buckets for platform calls, kept in the store so they outlive the process.

Slack allows ``conversations.replies`` about once a minute per workspace outside
its Marketplace (adapters/slack/pacer.py): a restart within that minute, or a
second worker, must know when the last call went. The Coordination port's
``take_rate`` would count the same window, but in process memory by default,
which a restart forgets; so the buckets stay in the store, behind this service.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.domain import Bucket
from bot.ports import ConversationStore

__all__ = ["Pacing", "RateBuckets"]


class RateBuckets(Protocol):
    """What a pacer takes its turns from (``Pacing``; the store has the same method)."""

    async def take_tokens(self, buckets: Sequence[Bucket], *, now: float) -> tuple[float, ...]: ...


class Pacing:
    def __init__(self, store: ConversationStore) -> None:
        self._store = store

    async def take_tokens(self, buckets: Sequence[Bucket], *, now: float) -> tuple[float, ...]:
        """Take one token from every bucket or from none; each bucket's shortfall in
        seconds (all zeros: taken). ``ConversationStore.take_tokens``'s contract."""
        return await self._store.take_tokens(buckets, now=now)
