"""How many answers stream at once: a fixed cap, or one that follows the upstream.

``LIMITS__MAX_CONCURRENT_REPLIES`` > 0 is a fixed cap. 0 (the default) lets the
upstream decide, as TCP lets the network decide (AIMD with slow start): the cap
starts at ``START`` and grows by one for every answer whose first token arrived
(doubling per round while nothing is refused), until the upstream answers 429;
then it halves, and afterwards grows by one per round. A fixed 32 made the 33rd
person of a burst wait unseen for a whole answer (issue 19), while an upstream
that tolerates more was idle; one that tolerates less is asked less.

Whoever must wait is told so by the caller (``ReplyService``: a "queued"
placeholder): ``free`` says whether ``acquire`` would wait.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from bot.ports import Clock, SystemClock

__all__ = ["ReplySlots"]


class ReplySlots:
    """A semaphore whose size is fixed (``cap`` > 0) or adaptive (``cap`` == 0)."""

    START = 32
    CEILING = 1024  # adaptive: never more streams than this, however willing the upstream
    FLOOR = 1
    # Several answers meet the same 429 window: one halving per this many seconds.
    BACKOFF_EVERY = 1.0

    def __init__(self, cap: int, clock: Clock | None = None) -> None:
        if cap < 0:
            raise ValueError("cap must be 0 (adaptive) or more")
        self.adaptive = cap == 0
        self._clock = clock or SystemClock()
        self._limit = float(cap or self.START)
        self._threshold = float(self.CEILING)  # slow start below it
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._backed_off_at = float("-inf")

    @property
    def limit(self) -> int:
        return max(self.FLOOR, int(self._limit))

    @property
    def in_use(self) -> int:
        return self._in_use

    def free(self) -> bool:
        """Would ``acquire`` go at once?"""
        return not self._waiters and self._in_use < self.limit

    @asynccontextmanager
    async def acquire(
        self, waiting: Callable[[], Awaitable[None]] | None = None, *, after: float = 0.0
    ) -> AsyncIterator[None]:
        """Hold one slot inside the block, waiting (in arrival order) for one.

        ``waiting`` is called once the wait has lasted ``after`` seconds (to tell the
        person): a slot that frees sooner (the cap growing under a burst) costs no
        "queued" message that its answer would replace at once.
        """
        if not self.free():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                if waiting is not None:
                    await asyncio.wait([waiter], timeout=after)
                    if not waiter.done():
                        await waiting()
                await waiter
            except BaseException:
                if not waiter.cancelled() and waiter.done():
                    self._in_use -= 1  # granted and cancelled at once: give it back
                    self._wake()
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
        else:
            self._in_use += 1
        try:
            yield
        finally:
            self._in_use -= 1
            self._wake()

    def succeeded(self) -> None:
        """An answer's first token arrived: the upstream took the load so far."""
        if not self.adaptive:
            return
        if self._limit < self._threshold:
            self._limit += 1.0  # slow start: one per answer, doubling per round
        else:
            self._limit += 1.0 / self._limit  # one per round
        self._limit = min(self._limit, float(self.CEILING))
        self._wake()

    def throttled(self) -> None:
        """The upstream answered 429: ask it less (at most one halving per second)."""
        if not self.adaptive:
            return
        now = self._clock.monotonic()
        if now - self._backed_off_at < self.BACKOFF_EVERY:
            return
        self._backed_off_at = now
        self._threshold = max(float(self.FLOOR), self._limit / 2)
        self._limit = self._threshold

    def _wake(self) -> None:
        while self._waiters and self._in_use < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_use += 1
                waiter.set_result(None)
