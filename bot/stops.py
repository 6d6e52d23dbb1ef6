"""Stop, reaching whichever worker streams the answer.

A Stop click lands on one worker (Slack posts interactivity to any worker behind
the load balancer); the answer may stream on another. The worker that streams an
answer watches its request id (``StopSignals.watch``: a ``stop_requested`` every
``POLL_SECONDS``) and cancels the answer's task when a stop is requested for it,
exactly as a local click does; a click for an answer not running here asks
(``StopSignals.request``). With one process the click finds the task itself.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.coordination import Coordination
from bot.errors import ThreadlineError

log = logging.getLogger(__name__)

# How long after a click an answer that starts streaming still stops (a click that
# raced the answer's start), and how often a streaming answer looks: a stop shows
# within about this long, at one small read per answer per interval.
STOP_TTL = 60.0
POLL_SECONDS = 0.5


class StopSignals:
    def __init__(self, coordination: Coordination, *, poll: float = POLL_SECONDS) -> None:
        self._coordination = coordination
        self._poll = poll

    async def request(self, platform: str, request_id: str) -> None:
        """Stop the answer to ``request_id`` on whichever worker streams it."""
        await self._coordination.request_stop(_key(platform, request_id), STOP_TTL)

    def watch(self, platform: str, request_id: str, task: asyncio.Task[Any]) -> None:
        """Cancel ``task`` (an answer) when a stop is requested for ``request_id`` on any
        worker; the watch ends with the task."""
        watcher = asyncio.create_task(
            self._watch(_key(platform, request_id), task), name=f"stop-watch-{request_id}"
        )
        task.add_done_callback(lambda _: watcher.cancel())

    async def _watch(self, key: str, task: asyncio.Task[Any]) -> None:
        while not task.done():
            await asyncio.sleep(self._poll)
            try:
                stopped = await self._coordination.stop_requested(key)
            except ThreadlineError as error:  # Redis away a moment: the next look may land
                log.warning("could not look for a Stop (%s)", type(error).__name__)
                continue
            if stopped:
                task.cancel()
                return


def _key(platform: str, request_id: str) -> str:
    return f"{platform}:{request_id}"
