"""One answer per thread at a time, in the order its messages arrived.

In this process a thread's tickets keep arrival order; across workers the
thread's lock (a lease, so a dead worker's expires) lets one answer it at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from bot.coordination import Coordination
from bot.domain import ThreadKey
from bot.leases import thread_lock

__all__ = ["ThreadQueue", "TurnOrder", "WaitForTurn"]

# Awaited when the caller is ready to answer: returns once the thread is its.
WaitForTurn = Callable[[], Awaitable[None]]


@dataclass
class ThreadQueue:
    """Tickets in arrival order, so a thread's answers never interleave.

    A ticket is taken before the first ``await``, so arrival order is call
    order; a finished ticket (answered, duplicate or failed) lets the next go.
    """

    issued: int = 0
    serving: int = 0
    finished: set[int] = field(default_factory=set)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def take(self) -> int:
        self.issued += 1
        return self.issued - 1

    async def wait(self, ticket: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: self.serving == ticket)

    async def release(self, ticket: int) -> None:
        async with self.changed:
            self.finished.add(ticket)
            while self.serving in self.finished:
                self.finished.remove(self.serving)
                self.serving += 1
            self.changed.notify_all()

    @property
    def idle(self) -> bool:
        return self.serving == self.issued


def lock_key(key: ThreadKey) -> str:
    return f"thread:{key.platform}:{key.workspace}:{key.channel}:{key.thread}"


class TurnOrder:
    """Every thread's queue in this process, and the lock that orders workers."""

    def __init__(self, coordination: Coordination) -> None:
        self._coordination = coordination
        self._queues: dict[ThreadKey, ThreadQueue] = {}

    @contextlib.asynccontextmanager
    async def in_turn(self, key: ThreadKey) -> AsyncIterator[WaitForTurn]:
        """Take the thread's next ticket now (before any await); yield "wait for it"."""
        queue = self._queues.setdefault(key, ThreadQueue())
        ticket = queue.take()
        async with contextlib.AsyncExitStack() as held:

            async def wait_for_turn() -> None:
                await queue.wait(ticket)
                await held.enter_async_context(thread_lock(self._coordination, lock_key(key)))

            try:
                yield wait_for_turn
            finally:
                # One shielded step: a second cancellation cannot skip the release.
                await asyncio.shield(self._leave(key, queue, ticket, held))

    async def _leave(
        self, key: ThreadKey, queue: ThreadQueue, ticket: int, held: contextlib.AsyncExitStack
    ) -> None:
        """Give the thread's lock back, then let the next ticket of this process go."""
        try:
            await held.aclose()
        finally:
            await queue.release(ticket)
            if queue.idle:
                self._queues.pop(key, None)
