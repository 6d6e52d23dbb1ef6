"""Each Slack delivery answered once, whichever worker it reaches.

Slack redelivers an event it thinks was not acknowledged in 3 s, with the same
``event_id`` (HTTP: ``X-Slack-Retry-Num`` ≥ 1; Socket Mode: ``retry_attempt`` ≥ 1,
the first delivery carrying 0), and Bolt does not de-duplicate
(https://docs.slack.dev/apis/events-api/#retries). A load balancer may hand the
retry to another worker. And one message can come twice, as ``message`` and as
``app_mention``, each with its own ``event_id``: it is known by its team, channel
and ``ts``. Both keys go through the ``Coordination`` port's ``first_sighting``:
one process's memory by default, Redis when several workers share it. The store's
idempotency on message ids stays the last guarantee; this keeps a repeat from
doing any work at all (a slash command would quote its question again first).
"""

from __future__ import annotations

from adapters.slack.translate import PersonMessage
from bot.coordination import Coordination

__all__ = ["CLAIM_SECONDS", "Deliveries"]

CLAIM_SECONDS = 60.0  # workers starting together start within it


class Deliveries:
    def __init__(self, coordination: Coordination, ttl: float) -> None:
        self._coordination = coordination
        self._ttl = ttl

    async def first(self, delivery_id: str) -> bool:
        """True the first time an ``event_id`` (or a command's trigger) is seen."""
        return await self._coordination.first_sighting(f"slack:delivery:{delivery_id}", self._ttl)

    async def claim(self, work: str) -> bool:
        """True for the one worker that takes ``work`` now (the questions every worker
        finds unanswered at start). Briefly: a worker that dies with it leaves it to
        the next start after ``CLAIM_SECONDS``."""
        return await self._coordination.first_sighting(f"slack:claim:{work}", CLAIM_SECONDS)

    async def first_message(self, message: PersonMessage) -> bool:
        """True the first time this message (team, channel, ts) is seen, whatever
        event carried it."""
        key = message.incoming.key
        where = f"{key.workspace}:{message.incoming.message_id}"  # message_id: channel:ts
        return await self._coordination.first_sighting(f"slack:message:{where}", self._ttl)
