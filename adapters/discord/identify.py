"""IDENTIFY paced by Discord's max_concurrency buckets, across every process of the bot.

https://discord.com/developers/docs/events/gateway#sharding-max-concurrency:
shards with the same ``rate_limit_key = shard_id % max_concurrency`` may
IDENTIFY once per 5 s between them; Discord answers a faster one with op 9
INVALID_SESSION. discord.py's own pacing (``Client.before_identify_hook``)
sleeps 5 s in one process; shard workers in several processes share the
bucket through the Coordination port instead (``discord:identify:{app}:{key}``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.coordination import Coordination, InProcessCoordination

log = logging.getLogger(__name__)

# "max_concurrency: Number of identify requests allowed per 5 seconds"
# (gateway#session-start-limit-object).
IDENTIFY_WINDOW_SECONDS = 5.0


class IdentifyPacer:
    """Waits until a shard's bucket may IDENTIFY, and takes its turn.

    ``max_concurrency`` is read once (GET /gateway/bot) on the first IDENTIFY;
    ``shared`` None: one process, which keeps its turns in memory.
    """

    def __init__(
        self, shared: Coordination | None, max_concurrency: Callable[[], Awaitable[int]]
    ) -> None:
        self._coordination = shared or InProcessCoordination()
        self._read_max_concurrency = max_concurrency
        self._max_concurrency: int | None = None

    async def wait_turn(self, application_id: int, shard_id: int) -> None:
        if self._max_concurrency is None:
            self._max_concurrency = max(1, await self._read_max_concurrency())
        bucket = shard_id % self._max_concurrency
        key = f"discord:identify:{application_id}:{bucket}"
        while (wait := await self._coordination.take_rate(key, 1, IDENTIFY_WINDOW_SECONDS)) > 0:
            log.info("shard %d waits %.1f s for its IDENTIFY turn", shard_id, wait)
            await asyncio.sleep(wait)
