"""Platform budgets several workers spend together, through ``Coordination``.

The edit scheduler (bot/streaming/) keeps each budget as a window in its
process; with several workers the bot's or the workspace's windows are spent by
all of them, so each request also takes its place in a ``take_rate`` window
shared through Redis before it is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.coordination import Coordination

if TYPE_CHECKING:
    from bot.ports import Clock


class Rate(Protocol):
    """``bot.streaming.Rate``: at most ``count`` requests in any ``per_seconds``."""

    @property
    def count(self) -> int: ...

    @property
    def per_seconds(self) -> float: ...


# Several workers count a shared window at the server when a request is sent, and the
# platform counts it when it arrives: a request delayed by this much more than the one
# after it (event loop, network) could land inside one window on the platform's side.
SHARED_MARGIN = 0.1


@dataclass(frozen=True, slots=True)
class SharedBudget:
    """The plan's shared windows (the bot's, the workspace's), spent by every worker.

    Each request that spends a shared window also takes from
    ``coordination.take_rate(f"{key}:{window}", ...)`` before it is sent, so that
    Discord's 50/s per bot or a Slack workspace's chat.update tier holds for all the
    processes together. Per-channel windows stay in the process: a channel belongs
    to one shard, and Slack's per-channel posting is paced by the answer's worker.
    """

    coordination: Coordination
    key: str  # e.g. ``discord:<bot id>``, ``slack:<team id>``
    margin: float = SHARED_MARGIN

    async def take(
        self,
        name: str,
        rate: Rate,
        clock: Clock,
        waiting: Callable[[float], None] = lambda wait: None,
        *,
        optional: bool = False,
    ) -> bool:
        """Take one request from the shared window ``name``, waiting for room (told to
        ``waiting``); ``optional``: False instead of waiting."""
        key = f"{self.key}:{name}"
        per = rate.per_seconds + self.margin
        while wait := await self.coordination.take_rate(key, rate.count, per):
            if optional:
                return False
            waiting(wait)
            await clock.sleep(wait)
        return True
