"""Answers a platform is still owed: tried again until their final text lands.

An answer's ``status`` says what the model wrote; its ``delivery`` says whether
the platform showed it (bot/domain.py ``Delivery``). The edit scheduler tries a
message a few times and gives up (a platform outage: Slack 500s on ``chat.*``
for seconds, Discord 5xx for a minute or more); the service then stores the
answer ``pending`` and hands it here. So do the start-up repairs of answers a
crash cut (``interrupted``, still ``pending``): a repair a second crash cut is
simply still owed at the start after that.

Each owed answer is tried with backoff (``BACKOFF``, about five minutes). Past
that bound the thread gets a sentence instead (``wording.answer_not_shown``),
tried until the platform takes it; what is still owed after that waits for the
next start. The store is written only after the platform confirmed: it never
says ``delivered`` (or ``notified``) for something the platform did not show.

Each platform brings a ``Repairer``: how to show a stored answer in its own
messages, and how to post the sentence in its thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from bot import wording
from bot.domain import Delivery, StoredTurn, TurnStatus, TurnUpdate
from bot.errors import ThreadlineError
from bot.ports import Clock, ConversationStore, MessageRef, PlatformLimits, ReplyTarget, SystemClock

__all__ = ["BACKOFF", "Deliveries", "Repairer", "ReplayTarget", "ending"]

log = logging.getLogger(__name__)

# Pauses before each further try of an owed answer: about five minutes in all, longer
# than the outages seen (Slack ~7 s, Discord ~75 s of 5xx); then the thread is told.
BACKOFF: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 60.0, 60.0, 60.0)
# Tries of the sentence, ``BACKOFF[-1]`` apart; then it waits for the next start.
TELL_TRIES = 60


class Repairer(Protocol):
    """One platform's way to pay what an answer is owed."""

    async def repair(self, answer: StoredTurn) -> tuple[str, ...]:
        """Show the stored answer (and how it ended) in its messages; return their ids.

        Raises ``ThreadlineError`` when the platform did not take every part.
        """
        ...

    async def tell(self, answer: StoredTurn) -> None:
        """Post ``wording.answer_not_shown`` in the answer's thread (raises on failure)."""
        ...


def ending(answer: StoredTurn) -> str:
    """The footer a repaired answer ends with: none for a complete one; an answer that
    did not end well (interrupted, stopped, failed) says it was cut short."""
    return "" if answer.turn.status is TurnStatus.COMPLETE else wording.interrupted_notice()


class Deliveries:
    """The owed answers of every platform attached, each tried in a task of its own."""

    def __init__(
        self,
        store: ConversationStore,
        clock: Clock | None = None,
        *,
        backoff: Sequence[float] = BACKOFF,
        tell_tries: int = TELL_TRIES,
    ) -> None:
        self._store = store
        self._clock = clock or SystemClock()
        self.backoff = tuple(backoff)
        self.tell_tries = tell_tries
        self._repairers: dict[str, Repairer] = {}
        self._tasks: dict[int, tuple[str, asyncio.Task[None]]] = {}

    def attach(self, platform: str, repairer: Repairer) -> None:
        """``platform``'s answers can be repaired from now (it is connected)."""
        self._repairers[platform] = repairer

    async def detach(self, platform: str) -> None:
        """``platform`` is closing: stop trying its answers (the next start goes on)."""
        self._repairers.pop(platform, None)
        tasks = [task for name, task in self._tasks.values() if name == platform]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def resume(self, platform: str) -> int:
        """At start: try every answer ``platform`` is still owed once, oldest first;
        keep trying those that fail in the background. Returns how many landed now."""
        landed = 0
        for answer in await self._store.undelivered_answers(platform):
            if answer.turn.id in self._tasks:
                continue
            if await self._try(answer):
                landed += 1
            else:
                self.owed(answer)
        return landed

    def owed(self, answer: StoredTurn) -> None:
        """Keep trying ``answer`` (stored ``pending``) in the background, after a pause."""
        turn_id, platform = answer.turn.id, answer.key.platform
        if turn_id is None or turn_id in self._tasks:
            return
        if platform not in self._repairers:
            log.warning("answer %s not shown; it is tried again at the next start", turn_id)
            return
        task = asyncio.create_task(self._pursue(answer), name=f"deliver-{turn_id}")
        self._tasks[turn_id] = (platform, task)
        task.add_done_callback(lambda _: self._tasks.pop(turn_id, None))

    @property
    def pursuing(self) -> int:
        """How many answers are being tried in the background now."""
        return len(self._tasks)

    async def _pursue(self, answer: StoredTurn) -> None:
        try:
            for pause in self.backoff:
                await self._clock.sleep(pause)
                current = await self._current(answer)
                if current is None or await self._try(current):
                    return
            for _ in range(self.tell_tries):
                current = await self._current(answer)
                if current is None or await self._tell(current):
                    return
                await self._clock.sleep(self.backoff[-1] if self.backoff else 60.0)
            log.warning("answer %s still not shown; tried again at the next start", answer.turn.id)
        except Exception:  # the task's boundary: the answer stays owed, the next start goes on
            log.exception("trying to show answer %s failed", answer.turn.id)

    async def _current(self, answer: StoredTurn) -> StoredTurn | None:
        """The answer as stored now; None once nothing is owed (shown, told, deleted)."""
        assert answer.turn.id is not None
        turn = await self._store.get_turn(answer.turn.id)
        if turn is None or turn.delivery is not Delivery.PENDING:
            return None
        return StoredTurn(answer.key, turn)

    async def _try(self, answer: StoredTurn) -> bool:
        repairer = self._repairers.get(answer.key.platform)
        if repairer is None:
            return False
        try:
            shown = await repairer.repair(answer)
        except ThreadlineError as error:
            log.warning("answer %s still not shown (%s)", answer.turn.id, type(error).__name__)
            return False
        assert answer.turn.id is not None
        update = TurnUpdate(delivery=Delivery.DELIVERED, reply_message_ids=shown or None)
        await self._store.update_turn(answer.turn.id, update)
        log.info("answer %s shown in %s", answer.turn.id, answer.key)
        return True

    async def _tell(self, answer: StoredTurn) -> bool:
        repairer = self._repairers.get(answer.key.platform)
        if repairer is None:
            return False
        try:
            await repairer.tell(answer)
        except ThreadlineError as error:
            log.warning("could not tell %s (%s)", answer.key, type(error).__name__)
            return False
        assert answer.turn.id is not None
        await self._store.update_turn(answer.turn.id, TurnUpdate(delivery=Delivery.NOTIFIED))
        log.warning("answer %s could not be shown; its thread was told", answer.turn.id)
        return True


class ReplayTarget:
    """Puts a stored answer back into the messages it had: the n-th post edits the
    n-th message; posts beyond them are new messages. For a ``StreamedReply`` that
    replays the answer through the connection's edit scheduler."""

    def __init__(self, inner: ReplyTarget, existing: Sequence[MessageRef]) -> None:
        self._inner = inner
        self._existing = list(existing)
        self._next = 0

    @property
    def limits(self) -> PlatformLimits:
        return self._inner.limits

    @property
    def bucket(self) -> str:
        return self._inner.bucket

    async def post(self, text: str) -> MessageRef:
        index = self._next
        if index < len(self._existing):
            await self._inner.edit(self._existing[index], text)
            self._next += 1  # only once it landed: a failed edit is tried again
            return self._existing[index]
        ref = await self._inner.post(text)
        self._next += 1
        return ref

    async def edit(self, ref: MessageRef, text: str) -> None:
        await self._inner.edit(ref, text)

    async def delete(self, ref: MessageRef) -> None:
        await self._inner.delete(ref)

    async def upload(self, name: str, data: bytes, mime: str) -> MessageRef:
        return await self._inner.upload(name, data, mime)

    async def typing(self) -> None:
        """No typing indicator: nothing is being written."""
