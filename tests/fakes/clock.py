"""A clock that never sleeps: time moves when a test sleeps, or jumps when all wait."""

from __future__ import annotations

import asyncio


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)

    async def wait(self, event: asyncio.Event, timeout: float | None) -> bool:
        """Wait on virtual time: let others run; jump to the deadline only when nobody
        else moves the clock (the "autojump when idle" of trio's MockClock)."""
        if timeout is None:
            await event.wait()
            return True
        deadline = self.now + max(0.0, timeout)
        while not event.is_set() and self.now < deadline:
            before = self.now
            for _ in range(20):
                await asyncio.sleep(0)
                if event.is_set() or self.now >= deadline:
                    break
            if self.now == before and not event.is_set():
                self.now = deadline
        return event.is_set()


class StillClock:
    """A clock for the Slack fake's buckets: they refill only when the test moves it."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now
