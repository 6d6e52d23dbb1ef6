"""A clock that never sleeps: time moves only when someone waits."""

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
        """Jump to the deadline unless the event is already set (or comes at once)."""
        await asyncio.sleep(0)
        if event.is_set() or timeout is None:
            await event.wait()
            return True
        self.now += max(0.0, timeout)
        return False
