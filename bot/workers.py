"""Several workers on one database: each holds a lease, and only the dead are taken over.

Every process has a worker id (a uuid) that its store records on every turn it
adds (bot/ports.py). It holds ``worker:<id>`` in the Coordination (a lock with a
lease) and renews it every third of the lease. A start, and a sweep every lease,
take over only the workers holding open turns whose lease ran out: taking their
lock first means one heir at a time; their streaming answers are marked
interrupted and their pending questions adopted, each in one store write, and
handed to today's crash recovery (``Deliveries.resume`` and each platform's
re-asking), never a second recovery. Turns of no worker ("", from before
workers had ids) are always taken over, as a start always did.

Without a shared Coordination (``InProcessCoordination``) a process sees no one
else's lease: one process per database, exactly as before. It takes over at start
only, never in a sweep, so a second process wrongly pointed at the same file
without ``REDIS_URL`` cannot cut the first one's live answers every lease.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

from bot.coordination import Coordination
from bot.domain import StoredTurn
from bot.ports import Clock, ConversationStore, SystemClock

log = logging.getLogger(__name__)

NO_WORKER = ""  # turns stored before workers had ids


def new_worker_id() -> str:
    """A uuid, after the host and process it names (for the operator reading the logs)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"


def lease_key(worker: str) -> str:
    return f"worker:{worker}"


@dataclass(frozen=True, slots=True)
class Takeover:
    """What dead workers left: answers now ``interrupted`` (their repair is owed) and
    the questions adopted to be answered again (oldest first)."""

    interrupted: list[StoredTurn] = field(default_factory=list)
    questions: list[StoredTurn] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.interrupted or self.questions)


class Workers:
    """This process's lease, and the take-over of workers whose lease expired."""

    def __init__(
        self,
        store: ConversationStore,
        coordination: Coordination,
        *,
        lease: float,
        reask_within: float,
        platforms: Collection[str] | None = None,
        clock: Clock | None = None,
        sweeps: bool = True,
    ) -> None:
        """``platforms``: the ones this worker answers on (None: all); a dead worker's
        turns elsewhere stay for a worker that can show them."""
        self.id = store.worker
        self._store = store
        self._coordination = coordination
        self.lease = lease
        self._reask_within = reask_within
        self._platforms = None if platforms is None else tuple(platforms)
        self._clock = clock or SystemClock()
        self._sweeps = sweeps  # False: the coordination is this process's only

    async def renew(self) -> bool:
        """Take or extend this worker's lease; False (logged) while another holds it."""
        held = await self._coordination.try_lock(lease_key(self.id), self.id, self.lease)
        if not held:
            log.warning("worker %s lost its lease; its open turns may be taken over", self.id)
        return held

    async def take_over(self, *, adopt_questions: bool = True) -> Takeover:
        """Interrupt the answers, and adopt the questions, of every worker whose lease
        expired (``adopt_questions`` False: answers only, for console commands)."""
        dead = [NO_WORKER]
        for worker in await self._store.open_workers():
            if worker in (self.id, NO_WORKER):
                continue
            if await self._coordination.try_lock(lease_key(worker), self.id, self.lease):
                dead.append(worker)
        interrupted = await self._store.interrupt_streaming(dead, platforms=self._platforms)
        questions: list[StoredTurn] = []
        if adopt_questions and self._reask_within > 0:
            since = time.time() - self._reask_within
            questions = await self._store.adopt_questions(
                dead, since=since, platforms=self._platforms
            )
        # Its turns here are ours now; let go so that it may come back under its own id,
        # and a worker on its other platforms may take those.
        for worker in dead[1:]:
            await self._coordination.unlock(lease_key(worker), self.id)
        if interrupted or questions:
            log.info(
                "took over %d answers and %d questions from %d workers",
                len(interrupted),
                len(questions),
                len(dead) - 1,
            )
        return Takeover(interrupted, questions)

    async def keep(self, recover: Callable[[Takeover], Awaitable[None]]) -> None:
        """Renew the lease every third of it and sweep every lease, handing each
        take-over to ``recover``; runs until cancelled."""
        beat = self.lease / 3
        beats = 0
        while True:
            await self._clock.sleep(beat)
            beats += 1
            try:
                await self.renew()
                if self._sweeps and beats % 3 == 0:
                    found = await self.take_over()
                    if found:
                        await recover(found)
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop's boundary: the next beat tries again
                log.exception("worker %s: lease renewal or sweep failed", self.id)
