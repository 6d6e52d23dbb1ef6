"""One Slack Web API method's per-workspace budget, shared by everything that calls it.

``conversations.replies`` is read by two parts: the thread import on a first
mention (history.py) and the catch-up at start (catchup.py). For commercially
distributed apps outside the Marketplace, Slack allows it about once a minute
per workspace (changelog 2025-05-29,
https://docs.slack.dev/changelog/2025/05/29/rate-limit-changes-for-non-marketplace-apps;
https://docs.slack.dev/apis/web-api/rate-limits: "per API method per
workspace/team per app"). So both take their turn from one ``MethodPacer``.

The pacer's bucket lives in the store (``bot.pacing.Pacing``), so a
restart within the interval, or a second worker, knows when the last call went.
A call is counted when it is sent, while Slack counts it when it arrives: the
spacing is widened a little (``MARGIN`` and ``LATENCY``) so that a slow request
followed by a quick one cannot land inside one interval on Slack's side.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.domain import Bucket
from bot.pacing import RateBuckets
from bot.ports import Clock

__all__ = ["MethodPacer"]

MARGIN = 0.05  # of the interval
LATENCY = 0.25  # seconds a request may take to reach Slack, beyond the margin


class MethodPacer:
    """At most one call every ``interval`` seconds (0: no pacing) for ``scope``."""

    def __init__(
        self,
        buckets: RateBuckets,
        scope: str,
        interval: float,
        clock: Clock,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._buckets = buckets
        self._clock = clock
        self._now = now
        spacing = interval * (1 + MARGIN) + LATENCY
        self._bucket = Bucket(scope, capacity=1.0, per_second=1 / spacing) if interval else None

    async def take_now(self) -> bool:
        """Take a turn if one is free now (the thread import: skipped rather than waited)."""
        return await self._shortfall() == 0.0

    async def take(self) -> None:
        """Wait for a turn and take it (the catch-up: it has time)."""
        while wait := await self._shortfall():
            await self._clock.sleep(wait)

    async def _shortfall(self) -> float:
        if self._bucket is None:
            return 0.0
        (wait,) = await self._buckets.take_tokens([self._bucket], now=self._now())
        return wait
