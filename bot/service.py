"""``ReplyService``: the use-cases every front end calls to have a question answered.

Three ways in, one way through. ``handle`` stores a new message, ``regenerate``
answers an answered question again, ``reask`` answers a question a stop left
waiting; each does its own small entry step, then ``_run`` applies the guards
once, in one order (the cost and abuse controls, the thread's turn, a reply
slot) and ``AnswerFlow`` answers (bot/answer_flow.py: prepare → start →
stream → conclude).

Order of writes, so that a crash loses nothing the user wrote and at most one
flush interval of the model's text:

1. the user turn, before anything is sent anywhere (idempotent per platform
   message id: a redelivered event stores nothing and gets no second answer),
   as ``pending`` until its answer turn is stored: a question the process
   stopped before answering (queued behind another answer, waiting for a slot)
   is found and answered at the next start (``unanswered``, ``reask``);
2. the assistant turn as ``streaming`` before the answer's first message, its
   text flushed every ``flush_interval`` seconds (bot/answer_writer.py);
3. the assistant turn ``complete``, ``failed`` (upstream error, text kept) or
   ``interrupted`` (stopped or shut down), with its ``delivery``: ``delivered``
   only when the platform confirmed the final text, else ``pending``, and the
   answer is handed to ``deliveries`` (bot/delivery.py), which tries it again.

One answer per thread at a time, in the order the messages arrived
(bot/turn_order.py); many threads at once, at most ``max_concurrent_replies``
(0: as many as the upstream tolerates, ``bot.concurrency``). Whoever waits for a
slot sees a placeholder saying so (``wording.queued``), replaced when their
answer starts. A message the cost and abuse controls refuse (bot/allowance.py)
is stored as ``failed`` (kept, never context) and answered with the sentence
that says when to ask again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

from bot import wording
from bot.allowance import Allowance, Refusal, UsageReport
from bot.answer_flow import AnswerFlow
from bot.answer_request import Preparer
from bot.answer_writer import RECORD_BACKOFF
from bot.candidates import keep
from bot.concurrency import ReplySlots
from bot.conversation_settings import inherited
from bot.coordination import Coordination, InProcessCoordination
from bot.delivery import Deliveries
from bot.domain import (
    ConversationSettings,
    Incoming,
    Role,
    StoredTurn,
    ThreadKey,
    Turn,
    TurnStatus,
    TurnUpdate,
)
from bot.errors import CoordinationUnavailable, InputError, StorageUnavailable
from bot.image_flow import ImageFlow
from bot.metrics import Metrics
from bot.models import ModelCatalog
from bot.outcomes import Outcome, ReplyResult, say, unsaved
from bot.params import ParamsDesk
from bot.ports import (
    AcceptingSink,
    Clock,
    CompletionClient,
    ConversationStore,
    QueueingSink,
    ReplySink,
    SystemClock,
)
from bot.questions import IMAGE_MIMES, asked, data_url, user_turn
from bot.settings import ConversationLimits, QuotaSettings, UpstreamSettings
from bot.stops import StopSignals
from bot.turn_order import TurnOrder, WaitForTurn

__all__ = [
    "IMAGE_MIMES",
    "QUEUED_AFTER",
    "RECORD_BACKOFF",
    "Outcome",
    "ReplyResult",
    "ReplyService",
    "asked",
    "data_url",
    "user_turn",
]

log = logging.getLogger(__name__)

# Seconds a question waits for a reply slot before its "queued" placeholder goes
# out: under a burst the adaptive cap grows within a few hundred ms, and a
# placeholder its answer replaces at once would only spend the platform's budget.
QUEUED_AFTER = 0.5


@dataclass(frozen=True, slots=True)
class Accepted:
    """A stored question on its way to an answer, as its entry step left it."""

    incoming: Incoming
    question: Turn
    # Stored by this call (``handle``): refused, or the coordination failing, it is
    # kept as ``failed`` (never context, never asked again) and the thread told.
    new: bool = False
    # Checked by the cost and abuse controls; a question ``reask`` answers was
    # admitted when it was asked.
    admit: bool = True
    # ``regenerate``: the old answer, marked ``failed`` once the question is admitted.
    set_aside: int | None = None
    # ``reask``: answered or deleted while it waited its turn, it gets nothing.
    recheck: bool = False


class ReplyService:
    """Questions in, answers out: ``handle``, ``regenerate``, ``reask``, and what the
    commands around them ask of the core (``usage``, ``keep``, ``settings_for``)."""

    def __init__(
        self,
        *,
        store: ConversationStore,
        client: CompletionClient,
        catalog: ModelCatalog,
        limits: ConversationLimits,
        upstream: UpstreamSettings,
        flush_interval: float = 1.0,
        clock: Clock | None = None,
        today: Callable[[], dt.date] = dt.date.today,
        images: ImageFlow | None = None,
        metrics: Metrics | None = None,
        allowance: Allowance | None = None,
        finish_grace: float = 5.0,
        deliveries: Deliveries | None = None,
        coordination: Coordination | None = None,
    ) -> None:
        self._store = store
        # What several workers agree on: one answer at a time per thread, Stop.
        coordination = coordination or InProcessCoordination()
        # A Stop clicked on one worker reaches the answer streaming on another.
        self.stops = StopSignals(coordination)
        # Answers whose final text has not reached their platform (bot/delivery.py).
        self.deliveries = deliveries or Deliveries(store)
        self._allowance = allowance or Allowance(store, QuotaSettings.off())
        self._metrics = metrics or Metrics()  # a registry of its own: see bot/metrics.py
        self._images = images or ImageFlow()
        self._catalog = catalog
        self._limits = limits
        self._clock = clock or SystemClock()
        self._turns = TurnOrder(coordination)
        self.slots = ReplySlots(limits.max_concurrent_replies, self._clock)
        # /settings and the per-question parameters (bot/params.py)
        self.params = ParamsDesk(
            store=store, catalog=catalog, upstream=upstream, settings_for=self.settings_for
        )
        self._flow = self._answer_flow(store, client, today, flush_interval, finish_grace)

    def _answer_flow(
        self,
        store: ConversationStore,
        client: CompletionClient,
        today: Callable[[], dt.date],
        flush_interval: float,
        finish_grace: float,
    ) -> AnswerFlow:
        """Prepare → start → stream → conclude, sharing this service's parts."""
        preparer = Preparer(
            store=store,
            catalog=self._catalog,
            limits=self._limits,
            images=self._images,
            params=self.params,
            settings_for=self.settings_for,
            today=today,
        )
        return AnswerFlow(
            store=store,
            client=client,
            preparer=preparer,
            images=self._images,
            slots=self.slots,
            metrics=self._metrics,
            deliveries=self.deliveries,
            clock=self._clock,
            flush_interval=flush_interval,
            still_waiting_seconds=self._limits.still_waiting_seconds,
            finish_grace=finish_grace,
        )

    # -- three ways in -------------------------------------------------------------------

    async def handle(self, incoming: Incoming, sink: ReplySink) -> ReplyResult:
        """Answer one incoming message; never raises for upstream trouble."""
        started = self._clock.monotonic()
        refusal = self._images.refusal(incoming) or self.params.refusal(
            incoming.params, incoming.model
        )
        if refusal is not None:  # nothing stored: the message is as if unsent
            await say(sink, f"⚠️ {refusal}")
            return ReplyResult(Outcome.FAILED, error=InputError(refusal))
        async with self._turns.in_turn(incoming.key) as wait_for_turn:
            accepted = await self._accept(incoming, sink)
            if isinstance(accepted, ReplyResult):
                return accepted
            if isinstance(sink, AcceptingSink):
                await sink.question_stored()
            return await self._run(accepted, wait_for_turn, sink, started)

    async def regenerate(self, key: ThreadKey, answer_id: int, sink: ReplySink) -> ReplyResult:
        """Answer an answer's question again (the Regenerate button).

        The old answer is kept in the database but marked ``failed``, so it no
        longer counts as context; the new answer follows the same question.
        Answering again costs like asking again: the asker's controls apply.
        """
        started = self._clock.monotonic()
        async with self._turns.in_turn(key) as wait_for_turn:
            old = await self._store.get_turn(answer_id)
            question = await self._store.get_turn(old.reply_to) if old and old.reply_to else None
            if old is None or question is None or question.id is None:
                await say(sink, wording.nothing_to_regenerate())
                return ReplyResult(Outcome.FAILED)
            again = Accepted(asked(key, question), question, set_aside=answer_id)
            return await self._run(again, wait_for_turn, sink, started)

    async def reask(self, question: StoredTurn, sink: ReplySink) -> ReplyResult:
        """Answer a question ``unanswered`` found, as ``handle`` would have answered it.

        It takes its thread's turn at once (so questions given in order are answered
        in order). It was admitted when it was asked, so the cost and abuse controls
        are not checked again. Answered or deleted meanwhile, it gets nothing
        (``DUPLICATE``).
        """
        started = self._clock.monotonic()
        key, turn = question.key, question.turn
        assert turn.id is not None
        async with self._turns.in_turn(key) as wait_for_turn:
            owed = Accepted(asked(key, turn), turn, admit=False, recheck=True)
            return await self._run(owed, wait_for_turn, sink, started)

    async def _accept(self, incoming: Incoming, sink: ReplySink) -> Accepted | ReplyResult:
        """Store the message as a pending question (nothing for a redelivered one)."""
        await self._remember_image_model(incoming)
        parts = await self._images.parts_for(incoming)
        question = user_turn(incoming, parts, status=TurnStatus.PENDING)
        try:
            stored = await self._store.add_turn(incoming.key, question)
        except StorageUnavailable as error:  # not stored: said in the thread, not lost quietly
            return await unsaved(incoming.key, error, sink)
        if stored is None:
            return ReplyResult(Outcome.DUPLICATE)
        return Accepted(incoming, stored, new=True)

    async def _remember_image_model(self, incoming: Incoming) -> None:
        """A conversation ``/image`` opens stays on the image model: its follow-ups
        ("make it blue") edit the last image made there (``select_images`` sends it)."""
        if incoming.model != self._catalog.image_model:
            return
        if await self._store.has_conversation(incoming.key):
            return  # /image inside a conversation asks once; the conversation keeps its model
        own = await self._store.settings(incoming.key)
        if own.model is None:
            await self._store.save_settings(incoming.key, replace(own, model=incoming.model))

    # -- one way through -----------------------------------------------------------------

    async def _run(
        self, accepted: Accepted, wait_for_turn: WaitForTurn, sink: ReplySink, started: float
    ) -> ReplyResult:
        """The guards, once and in this order: the cost and abuse controls, the thread's
        turn, a reply slot; then the answer (which the metrics count)."""
        try:
            async with self._admitted(accepted) as refused:
                if refused is not None:
                    return await self._refuse(accepted, refused, sink)
                await wait_for_turn()
                if accepted.set_aside is not None:  # the turn is ours: the old answer goes
                    failed = TurnUpdate(status=TurnStatus.FAILED)
                    await self._store.update_turn(accepted.set_aside, failed)
                current = await self._still_owed(accepted)
                if current is None:
                    return ReplyResult(Outcome.DUPLICATE)
                async with self._reply_slot(sink):
                    return await self._flow.answer(
                        current.incoming, current.question, sink, started
                    )
        except CoordinationUnavailable as error:  # before the answer began: said, kept
            return await self._uncoordinated(accepted, error, sink)

    @contextlib.asynccontextmanager
    async def _admitted(self, accepted: Accepted) -> AsyncIterator[Refusal | None]:
        """The cost and abuse controls' verdict, held (in flight) until the answer ends."""
        if not accepted.admit:
            yield None
            return
        async with self._allowance.admitted(accepted.incoming) as refused:
            yield refused

    async def _still_owed(self, accepted: Accepted) -> Accepted | None:
        """``reask``: the question as it is now, if it still waits for its answer."""
        if not accepted.recheck:
            return accepted
        assert accepted.question.id is not None
        current = await self._store.get_turn(accepted.question.id)
        if current is None or current.status is not TurnStatus.PENDING:
            return None
        return replace(accepted, incoming=asked(accepted.incoming.key, current), question=current)

    @contextlib.asynccontextmanager
    async def _reply_slot(self, sink: ReplySink) -> AsyncIterator[None]:
        """Hold a slot to answer in; whoever must wait for one is shown that they are
        queued (nobody waits unseen), and ``sink.start`` replaces that placeholder."""
        if not isinstance(sink, QueueingSink):
            async with self.slots.acquire():
                yield
            return

        async def tell() -> None:
            await sink.queued(wording.queued())

        async with self.slots.acquire(tell, after=QUEUED_AFTER):
            yield

    async def _refuse(self, accepted: Accepted, refusal: Refusal, sink: ReplySink) -> ReplyResult:
        """Say why; a new message is kept (``failed``: never context, never asked again),
        an old answer being regenerated stays as it was."""
        if accepted.new:
            assert accepted.question.id is not None
            failed = TurnUpdate(status=TurnStatus.FAILED)
            await self._store.update_turn(accepted.question.id, failed)
        self._metrics.refusals.labels(refusal.limit).inc()
        await say(sink, f"⏳ {refusal.sentence}")
        return ReplyResult(Outcome.REFUSED, error=InputError(refusal.sentence))

    async def _uncoordinated(
        self, accepted: Accepted, error: CoordinationUnavailable, sink: ReplySink
    ) -> ReplyResult:
        """The shared coordination (Redis) failed before the answer began: the thread is
        told. A new question is kept ``failed`` (never context, never asked again); a
        Regenerate or a question asked again is left as it was, for a later try."""
        question = accepted.question
        log.warning("could not coordinate an answer in %s (%s)", question.id, error.reason)
        if accepted.new and question.id is not None:
            await self._store.update_turn(question.id, TurnUpdate(status=TurnStatus.FAILED))
        await say(sink, f"⚠️ {error.user_message}")
        return ReplyResult(Outcome.FAILED, error=error)

    # -- around the answers --------------------------------------------------------------

    async def unanswered(self) -> list[StoredTurn]:
        """Questions accepted but never answered: the process stopped while they waited
        their turn. Those asked within ``reask_within_seconds``, oldest first; run at
        start, after ``recover``, and give each to ``reask``."""
        within = self._limits.reask_within_seconds
        if within <= 0:
            return []
        return await self._store.unanswered_questions(since=time.time() - within)

    async def usage(self, key: ThreadKey, user_id: str) -> UsageReport:
        """Today's tokens for ``/usage``: the figures the daily quotas are checked against."""
        return await self._allowance.report(key, user_id)

    async def recover(self) -> list[Turn]:
        """Mark answers a crash left ``streaming`` as interrupted (run at start)."""
        return [stored.turn for stored in await self._store.interrupt_streaming()]

    async def asker(self, platform: str, message_id: str) -> str | None:
        """Who asked the stored question ``message_id``: a Stop for an answer not running
        on this worker may be for one streaming on another. None: a stale button."""
        stored = await self._store.find_by_message(platform, message_id)
        if stored is None or stored.turn.role is not Role.USER:
            return None
        return stored.turn.author_id

    async def keep(self, key: ThreadKey, turn_id: int, number: int) -> str:
        """A Keep button: candidate ``number`` (turn ``turn_id``) becomes the answer."""
        return await keep(self._store, key, turn_id, number)

    async def settings_for(self, key: ThreadKey) -> ConversationSettings:
        """The thread's own settings, falling back to its channel's (``/model``, ``/system``)."""
        return await inherited(self._store, key)
