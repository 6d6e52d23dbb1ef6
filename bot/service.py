"""``ReplyService.handle``: the one use-case every front end calls.

Store the user's turn, build ``messages`` within the context budget, choose the
model, stream the answer into a ``ReplySink``, store the answer. Order of
writes, so that a crash loses nothing the user wrote and at most one flush
interval of the model's text:

1. the user turn, before anything is sent anywhere (idempotent per platform
   message id: a redelivered event stores nothing and gets no second answer),
   as ``pending`` until its answer turn is stored: a question the process
   stopped before answering (queued behind another answer, waiting for a slot)
   is found and answered at the next start (``unanswered``, ``reask``);
2. the assistant turn as ``streaming`` when the answer starts, its text flushed
   every ``flush_interval`` seconds (every answer's in one statement: ``_Flushes``);
3. the assistant turn ``complete``, ``failed`` (upstream error, text kept) or
   ``interrupted`` (stopped or shut down), with its ``delivery``: ``delivered``
   only when the platform confirmed the final text, else ``pending``, and the
   answer is handed to ``deliveries`` (bot/delivery.py), which tries it again.

One answer per thread at a time, in the order the messages arrived; many
threads at once, at most ``max_concurrent_replies`` (0: as many as the upstream
tolerates, ``bot.concurrency``). Whoever waits for a slot sees a placeholder
saying so (``wording.queued``), replaced when their answer starts. A message the cost and
abuse controls refuse (bot/allowance.py) is stored as ``failed`` (kept, never
context) and answered with the sentence that says when to ask again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from bot import wording
from bot.allowance import Allowance, Refusal, UsageReport
from bot.candidates import Gathered, keep, show_others, store_others
from bot.concurrency import ReplySlots
from bot.conversation import Context, build_messages, estimate_tokens, select_images
from bot.conversation_settings import inherited
from bot.coordination import Coordination, InProcessCoordination
from bot.delivery import Deliveries
from bot.domain import (
    ContentPart,
    ConversationSettings,
    Delivery,
    HistoryWindow,
    ImagePart,
    Incoming,
    Role,
    StoredTurn,
    TextPart,
    ThreadKey,
    Turn,
    TurnStatus,
    TurnUpdate,
    Usage,
)
from bot.errors import (
    CoordinationUnavailable,
    InputError,
    NotDelivered,
    StorageUnavailable,
    ThreadlineError,
    UpstreamError,
)
from bot.image_flow import ImageFlow
from bot.json_answers import JsonSink, json_problem, with_json_instruction
from bot.leases import thread_lock
from bot.metrics import Metrics
from bot.models import ModelCatalog, Route
from bot.params import ParamsDesk, wire_format
from bot.ports import (
    Clock,
    CompletionClient,
    ConversationStore,
    QueueingSink,
    ReplySink,
    ReportingSink,
    SystemClock,
)
from bot.settings import ConversationLimits, QuotaSettings, UpstreamSettings
from bot.stops import StopSignals
from bot.upstream.types import ChatRequest

log = logging.getLogger(__name__)

# Seconds a question waits for a reply slot before its "queued" placeholder goes
# out: under a burst the adaptive cap grows within a few hundred ms, and a
# placeholder its answer replaces at once would only spend the platform's budget.
QUEUED_AFTER = 0.5

IMAGE_MIMES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})


class Outcome(StrEnum):
    ANSWERED = "answered"
    DUPLICATE = "duplicate"
    REFUSED = "refused"  # by a cost or abuse control (bot/allowance.py)
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class ReplyResult:
    outcome: Outcome
    text: str = ""
    error: ThreadlineError | None = None
    turn_id: int | None = None
    model: str | None = None
    usage: Usage | None = None
    message_ids: tuple[str, ...] = ()
    # With n > 1: every candidate's turn id, the first (the answer) first (bot/candidates.py).
    candidates: tuple[int, ...] = ()


@dataclass
class _ThreadQueue:
    """Tickets in arrival order, so a thread's answers never interleave.

    A ticket is taken before the first ``await``, so arrival order is call
    order; a finished ticket (answered, duplicate or failed) lets the next go.
    """

    issued: int = 0
    serving: int = 0
    finished: set[int] = field(default_factory=set)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def take(self) -> int:
        self.issued += 1
        return self.issued - 1

    async def wait(self, ticket: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: self.serving == ticket)

    async def release(self, ticket: int) -> None:
        async with self.changed:
            self.finished.add(ticket)
            while self.serving in self.finished:
                self.finished.remove(self.serving)
                self.serving += 1
            self.changed.notify_all()

    @property
    def idle(self) -> bool:
        return self.serving == self.issued


def _lock_key(key: ThreadKey) -> str:
    return f"thread:{key.platform}:{key.workspace}:{key.channel}:{key.thread}"


class ReplyService:
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
        self._coordination = coordination or InProcessCoordination()
        # A Stop clicked on one worker reaches the answer streaming on another.
        self.stops = StopSignals(self._coordination)
        # Answers whose final text has not reached their platform (bot/delivery.py).
        self.deliveries = deliveries or Deliveries(store)
        self._allowance = allowance or Allowance(store, QuotaSettings.off())
        self._metrics = metrics or Metrics()  # a registry of its own: see bot/metrics.py
        self._images = images or ImageFlow()
        self._client = client
        self._catalog = catalog
        self._limits = limits
        self._upstream = upstream
        self._finish_grace = finish_grace
        self._clock = clock or SystemClock()
        self._flushes = _Flushes(store, self._clock, flush_interval)
        self._today = today
        self._queues: dict[ThreadKey, _ThreadQueue] = {}
        self.slots = ReplySlots(limits.max_concurrent_replies, self._clock)
        self._trim_told: set[ThreadKey] = set()
        # /settings and the per-question parameters (bot/params.py)
        self.params = ParamsDesk(
            store=store, catalog=catalog, upstream=upstream, settings_for=self.settings_for
        )

    async def handle(self, incoming: Incoming, sink: ReplySink) -> ReplyResult:
        """Answer one incoming message; never raises for upstream trouble."""
        started = self._clock.monotonic()
        refusal = self._images.refusal(incoming) or self.params.refusal(
            incoming.params, incoming.model
        )
        if refusal is not None:  # nothing stored: the message is as if unsent
            await sink.start()
            await sink.finish(f"⚠️ {refusal}")
            return ReplyResult(Outcome.FAILED, error=InputError(refusal))
        async with self._in_turn(incoming.key) as wait_for_turn:
            await self._remember_image_model(incoming)
            parts = await self._images.parts_for(incoming)
            question = user_turn(incoming, parts, status=TurnStatus.PENDING)
            try:
                stored = await self._store.add_turn(incoming.key, question)
            except StorageUnavailable as error:  # not stored: said in the thread, not lost quietly
                return await self._unsaved(incoming.key, error, sink)
            if stored is None:
                return ReplyResult(Outcome.DUPLICATE)
            try:
                async with self._allowance.admitted(incoming) as refused:
                    if refused is not None:
                        return await self._refuse(stored, refused, sink)
                    await wait_for_turn()
                    async with self._reply_slot(sink):
                        return await self._measured(incoming, stored, sink, started)
            except CoordinationUnavailable as error:  # before the answer began: said, kept
                return await self._uncoordinated(stored, error, sink)

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

    async def regenerate(self, key: ThreadKey, answer_id: int, sink: ReplySink) -> ReplyResult:
        """Answer an answer's question again (the Regenerate button).

        The old answer is kept in the database but marked ``failed``, so it no
        longer counts as context; the new answer follows the same question.
        """
        started = self._clock.monotonic()
        old = await self._store.get_turn(answer_id)
        question = await self._store.get_turn(old.reply_to) if old and old.reply_to else None
        if old is None or question is None or question.id is None:
            await sink.start()
            await sink.finish(wording.nothing_to_regenerate())
            return ReplyResult(Outcome.FAILED)
        incoming = asked(key, question)
        # Answering again costs like asking again: the asker's controls apply.
        async with self._allowance.admitted(incoming) as refused:
            if refused is not None:  # the old answer stays as it was
                return await self._refused(refused, sink)
            await self._store.update_turn(answer_id, TurnUpdate(status=TurnStatus.FAILED))
            async with self._in_turn(key) as wait_for_turn:
                await wait_for_turn()
                async with self._reply_slot(sink):
                    return await self._measured(incoming, question, sink, started)

    async def unanswered(self) -> list[StoredTurn]:
        """Questions accepted but never answered: the process stopped while they waited
        their turn. Those asked within ``reask_within_seconds``, oldest first; run at
        start, after ``recover``, and give each to ``reask``."""
        within = self._limits.reask_within_seconds
        if within <= 0:
            return []
        return await self._store.unanswered_questions(since=time.time() - within)

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
        async with self._in_turn(key) as wait_for_turn:
            await wait_for_turn()
            current = await self._store.get_turn(turn.id)
            if current is None or current.status is not TurnStatus.PENDING:
                return ReplyResult(Outcome.DUPLICATE)
            async with self._reply_slot(sink):
                return await self._measured(asked(key, current), current, sink, started)

    async def usage(self, key: ThreadKey, user_id: str) -> UsageReport:
        """Today's tokens for ``/usage``: the figures the daily quotas are checked against."""
        return await self._allowance.report(key, user_id)

    async def recover(self) -> list[Turn]:
        """Mark answers a crash left ``streaming`` as interrupted (run at start)."""
        return [stored.turn for stored in await self._store.interrupt_streaming()]

    @contextlib.asynccontextmanager
    async def _in_turn(self, key: ThreadKey) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        """Take the thread's next ticket now (before any await); yield "wait for it".

        In this process the tickets keep arrival order; across workers the thread's
        lock (a lease, so a dead worker's expires) lets one answer it at a time."""
        queue = self._queues.setdefault(key, _ThreadQueue())
        ticket = queue.take()
        async with contextlib.AsyncExitStack() as held:

            async def wait_for_turn() -> None:
                await queue.wait(ticket)
                await held.enter_async_context(thread_lock(self._coordination, _lock_key(key)))

            try:
                yield wait_for_turn
            finally:
                # One shielded step: a second cancellation cannot skip the release.
                await asyncio.shield(self._leave_turn(key, queue, ticket, held))

    async def _leave_turn(
        self, key: ThreadKey, queue: _ThreadQueue, ticket: int, held: contextlib.AsyncExitStack
    ) -> None:
        """Give the thread's lock back, then let the next ticket of this process go."""
        try:
            await held.aclose()
        finally:
            await queue.release(ticket)
            if queue.idle:
                self._queues.pop(key, None)

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

    async def _refuse(self, question: Turn, refusal: Refusal, sink: ReplySink) -> ReplyResult:
        """Keep the message (``failed``: never context, never asked again) and say why."""
        assert question.id is not None
        await self._store.update_turn(question.id, TurnUpdate(status=TurnStatus.FAILED))
        return await self._refused(refusal, sink)

    async def _refused(self, refusal: Refusal, sink: ReplySink) -> ReplyResult:
        self._metrics.refusals.labels(refusal.limit).inc()
        await sink.start()
        await sink.finish(f"⏳ {refusal.sentence}")
        return ReplyResult(Outcome.REFUSED, error=InputError(refusal.sentence))

    # -- one answer ----------------------------------------------------------------

    async def _measured(
        self, incoming: Incoming, question: Turn, sink: ReplySink, started: float
    ) -> ReplyResult:
        """``_answer``, counted in the metrics (bot/metrics.py)."""
        try:
            with self._metrics.in_flight.track_inprogress():
                result = await self._answer(incoming, question, sink, started)
        except asyncio.CancelledError:
            self._metrics.answer_ended(Outcome.INTERRUPTED)
            raise
        self._metrics.answer_ended(result.outcome, usage=result.usage, error=result.error)
        return result

    async def _answer(
        self, incoming: Incoming, question: Turn, sink: ReplySink, started: float
    ) -> ReplyResult:
        try:
            context, route, request = await self._prepare(incoming, question)
        except ThreadlineError as error:  # e.g. a stored temperature the API refuses
            await sink.start()
            await sink.finish(f"⚠️ {error.user_message}")
            if question.status is TurnStatus.PENDING and question.id is not None:
                # Told why there is no answer: the question is settled, not asked again.
                await self._store.update_turn(question.id, TurnUpdate(status=TurnStatus.COMPLETE))
            return ReplyResult(Outcome.FAILED, error=error)
        # The answer turn is stored before its first message, and the sink names its
        # messages as they are posted: a crash at any point leaves an answer the next
        # start finds and finishes in those messages (bot/delivery.py).
        try:
            answer = await self._add_answer(incoming, question, route)
        except StorageUnavailable as error:  # the question stays pending: asked again at start
            return await self._unsaved(incoming.key, error, sink)
        # An assistant turn has no platform message id, so it is never a duplicate.
        assert answer is not None
        assert answer.id is not None
        writer = _AnswerWriter(
            self._store,
            answer.id,
            self._flushes,
            incoming.key,
            self.deliveries,
            context.estimated_tokens,
        )
        if isinstance(sink, ReportingSink):
            sink.report_posted(writer.posted)
        json_asked = request.response_format == {"type": "json_object"}
        plain = sink
        if json_asked:
            sink = JsonSink(sink)  # shown as a code block, checked once complete
        await sink.start()
        gathered = Gathered(request.n) if request.n and request.n > 1 else None
        if gathered is not None:
            await plain.append(wording.candidate_heading(1, gathered.n))
        notices = self._notices(incoming.key, context, route)
        # An image model's answer is shown once its images are posted (the links go).
        holding = self._images.posts_images and self._catalog.spec(route.model).image_output
        try:
            usage = await self._stream(
                request, None if holding else sink, writer, started, gathered
            )
            if usage is None:  # the stream reported none: count an estimate (quotas)
                usage = writer.spent()
            if holding:
                delivered = await self._images.deliver(writer.text, sink)
                await sink.append(delivered.text)
                writer.parts = delivered.parts
                if delivered.failed:
                    notices.append(wording.image_upload_failed(delivered.failed))
            if json_asked and (problem := json_problem(writer.text)) is not None:
                notices.append(problem)
            others: tuple[int, ...] = ()
            if gathered is not None:
                notices += await show_others(gathered, plain, sink)
                others = await store_others(self._store, incoming.key, answer, gathered.others())
        except UpstreamError as error:
            log.warning("answer failed in %s: %s", incoming.key, error)
            footer = "\n".join([*notices, f"⚠️ {error.user_message}"])
            await self._conclude(
                sink,
                writer,
                footer,
                TurnStatus.FAILED,
                usage=writer.spent() if writer.text else writer.reported,
                trace_id=error.trace_id,
            )
            return ReplyResult(Outcome.FAILED, writer.text, error, answer.id, route.model)
        except asyncio.CancelledError:
            await self._interrupted(sink, writer)
            raise
        except Exception:
            # The use-case boundary: whatever broke, the thread gets a sentence and
            # the answer's record is finished; the traceback goes to the operator.
            log.exception("answer crashed in %s", incoming.key)
            shown: tuple[str, ...] = ()
            landed = False
            with contextlib.suppress(Exception):
                shown, landed = await sink.finish(f"⚠️ {wording.internal_error()}"), True
            await writer.close(TurnStatus.FAILED, message_ids=shown, delivered=landed)
            return ReplyResult(Outcome.FAILED, writer.text, None, answer.id, route.model)
        ids = await self._conclude(
            sink, writer, "\n".join(notices), TurnStatus.COMPLETE, usage=usage
        )
        self._metrics.time_to_final_edit.observe(self._clock.monotonic() - started)
        candidates = (answer.id, *others) if others else ()
        return ReplyResult(
            Outcome.ANSWERED, writer.text, None, answer.id, route.model, usage, ids, candidates
        )

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

    async def _add_answer(self, incoming: Incoming, question: Turn, route: Route) -> Turn | None:
        return await self._store.add_turn(
            incoming.key,
            Turn(
                role=Role.ASSISTANT,
                text="",
                author_name="threadline",
                requester_id=incoming.author_id,
                reply_to=question.id,
                status=TurnStatus.STREAMING,
                model=route.model,
                delivery=Delivery.PENDING,  # until the platform shows its final text
            ),
        )

    async def _uncoordinated(
        self, question: Turn, error: CoordinationUnavailable, sink: ReplySink
    ) -> ReplyResult:
        """The shared coordination (Redis) failed before the answer began: the question
        is kept (``failed``: never context, never asked again) and the thread told."""
        log.warning("could not coordinate an answer in %s (%s)", question.id, error.reason)
        if question.id is not None:
            await self._store.update_turn(question.id, TurnUpdate(status=TurnStatus.FAILED))
        await sink.start()
        await sink.finish(f"⚠️ {error.user_message}")
        return ReplyResult(Outcome.FAILED, error=error)

    async def _unsaved(
        self, key: ThreadKey, error: StorageUnavailable, sink: ReplySink
    ) -> ReplyResult:
        """The database would not take the write: the thread is told so."""
        log.warning("could not store a message in %s: database %s", key, error.reason)
        await sink.start()
        await sink.finish(f"⚠️ {error.user_message}")
        return ReplyResult(Outcome.FAILED, error=error)

    async def settings_for(self, key: ThreadKey) -> ConversationSettings:
        """The thread's own settings, falling back to its channel's (``/model``, ``/system``)."""
        return await inherited(self._store, key)

    async def _prepare(
        self, incoming: Incoming, question: Turn
    ) -> tuple[Context, Route, ChatRequest]:
        settings = await self.settings_for(incoming.key)
        model = incoming.model or settings.model or self._catalog.default_model
        template = incoming.system_prompt or settings.system_prompt or self._limits.system_prompt
        params = self.params.resolve(settings, incoming.params, model)
        if params.json:
            template = with_json_instruction(template)
        max_tokens = params.max_tokens
        budget = min(
            self._limits.context_tokens,
            self._catalog.spec(model).context_tokens - (max_tokens or 1024),
        ) - estimate_tokens(template)
        window = await self._store.history(
            incoming.key,
            token_budget=max(budget, 1),
            max_turns=self._limits.max_history_turns,
            through=question.id,
        )
        turns = select_images(window.turns, self._images.settings.context_images)
        has_images = any(not isinstance(p, TextPart) for turn in turns for p in turn.parts)
        route = self._catalog.route(model, has_images=has_images)
        spec = self._catalog.spec(route.model)
        if spec.image_input_required and not has_images:
            raise InputError(wording.image_model_needs_image(route.model))
        turns = await self._images.for_wire(turns, spec)
        context = build_messages(
            HistoryWindow(turns, window.omitted),
            template=template,
            today=self._today(),
            budget=max(budget, 1),
        )
        request = ChatRequest(
            model=route.model,
            messages=context.messages,
            max_tokens=max_tokens,
            temperature=params.temperature,
            n=params.n if params.n > 1 else None,
            response_format=wire_format(params.response_format),
        )
        return context, route, request

    async def _stream(
        self,
        request: ChatRequest,
        sink: ReplySink | None,
        writer: _AnswerWriter,
        started: float,
        gathered: Gathered | None = None,
    ) -> Usage | None:
        usage, first = None, True
        waiting = self._notes(sink)
        try:
            async with contextlib.aclosing(self._client.stream(request)) as deltas:
                async for delta in deltas:
                    if delta.usage is not None:
                        usage = writer.reported = delta.usage
                    if delta.index != 0 and gathered is not None:
                        gathered.add(delta.index, delta.content)  # shown once the first is done
                    if delta.index != 0 or not delta.content:
                        continue
                    if first:
                        first = False
                        if waiting is not None:
                            waiting.cancel()
                        self.slots.succeeded()
                        elapsed = self._clock.monotonic() - started
                        self._metrics.time_to_first_token.observe(elapsed)
                    if sink is not None:
                        await sink.append(delta.content)
                    await writer.add(delta.content)
        finally:
            if waiting is not None:
                waiting.cancel()
        return usage

    def _notes(self, sink: ReplySink | None) -> asyncio.Task[None] | None:
        """While the model has not begun, say so every ``still_waiting_seconds`` where
        the answer will be (nobody waits unseen: a slow or retried first token can take
        UPSTREAM__TIMEOUT_FIRST_TOKEN, a minute by default); cancelled by the first words."""
        if sink is None or not isinstance(sink, QueueingSink):
            return None
        shows: QueueingSink = sink
        every = self._limits.still_waiting_seconds

        async def note() -> None:
            waited = 0.0
            while True:
                await self._clock.sleep(every)
                waited += every
                with contextlib.suppress(ThreadlineError):  # a missing note is cosmetic
                    await shows.note(wording.still_waiting(round(waited)))

        return asyncio.create_task(note(), name="still-waiting")

    async def _conclude(
        self,
        sink: ReplySink,
        writer: _AnswerWriter,
        footer: str,
        status: TurnStatus,
        *,
        usage: Usage | None = None,
        trace_id: str | None = None,
    ) -> tuple[str, ...]:
        """Show the answer's last edit, then record the answer, even when cancelled meanwhile.

        Stopped or shut down while the last edit is on its way, the whole answer is
        already written: the edit gets up to ``finish_grace`` seconds more and is
        recorded. If it never lands, the text is stored still ``streaming``, so the
        next start finishes the message (restart recovery).
        """

        async def conclude() -> tuple[str, ...]:
            try:
                ids, delivered = await sink.finish(footer), True
            except NotDelivered as error:  # an outage: recorded as owed, tried again
                ids, delivered = error.message_ids, False
            await writer.close(
                status, usage=usage, trace_id=trace_id, message_ids=ids, delivered=delivered
            )
            return ids

        concluding = asyncio.ensure_future(conclude())
        try:
            return await asyncio.shield(concluding)
        except asyncio.CancelledError:
            try:
                async with asyncio.timeout(self._finish_grace):
                    await asyncio.shield(concluding)
            except TimeoutError:
                concluding.cancel()
                await asyncio.shield(writer.flush())
            raise

    async def _interrupted(self, sink: ReplySink, writer: _AnswerWriter) -> None:
        """Keep what was written when an answer is stopped or the process shuts down."""
        delivered = False
        try:
            async with asyncio.timeout(5):
                ids, delivered = await sink.finish(wording.stopped_notice()), True
        except NotDelivered as error:
            ids = error.message_ids
        except (TimeoutError, ThreadlineError):
            ids = ()
        # What was streamed was spent: it counts (an estimate, unless the server said).
        spent = writer.spent() if writer.text else writer.reported
        await asyncio.shield(
            writer.close(TurnStatus.INTERRUPTED, usage=spent, message_ids=ids, delivered=delivered)
        )

    def _notices(self, key: ThreadKey, context: Context, route: Route) -> list[str]:
        notices = []
        if route.switched_because:
            notices.append(wording.model_switched(route.model, route.switched_because))
        if context.question_cut_to is not None:
            notices.append(wording.question_cut(context.question_cut_to))
        if context.omitted and key not in self._trim_told:
            self._trim_told.add(key)
            notices.append(wording.context_trimmed(context.used_turns))
        return notices


class _Flushes:
    """The text of every streaming answer, stored together once per ``interval``.

    The first token after the interval stores every answer that grew since the
    last flush in one statement (``update_texts``): with 200 answers streaming,
    one write a second instead of 200. A crash loses at most an interval of text.
    """

    def __init__(self, store: ConversationStore, clock: Clock, interval: float) -> None:
        self._store = store
        self._clock = clock
        self._interval = interval
        self._grown: dict[int, _AnswerWriter] = {}
        self._flushed_at = clock.monotonic()

    async def grew(self, writer: _AnswerWriter) -> None:
        self._grown[writer.turn_id] = writer
        now = self._clock.monotonic()
        if now - self._flushed_at >= self._interval:
            self._flushed_at = now
            texts = {turn_id: grown.text for turn_id, grown in self._grown.items()}
            grown, self._grown = self._grown, {}
            try:
                await self._store.update_texts(texts)
            except StorageUnavailable as error:  # the answer goes on; its text waits
                log.warning("could not store answers' text so far: database %s", error.reason)
                self._grown = grown | self._grown

    def forget(self, writer: _AnswerWriter) -> None:
        """The answer is ending: its last write is its own."""
        self._grown.pop(writer.turn_id, None)


# Pauses between tries of an answer's last write when the database will not take
# it (locked, full): about a minute, so an answer is not left ``streaming`` while
# the process runs; past that the next start marks it interrupted and repairs it.
RECORD_BACKOFF = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0)


class _AnswerWriter:
    """The assistant turn's text, flushed to the store as it grows."""

    def __init__(
        self,
        store: ConversationStore,
        turn_id: int,
        flushes: _Flushes,
        key: ThreadKey,
        deliveries: Deliveries,
        prompt_tokens: int = 0,
    ) -> None:
        self._store = store
        self.turn_id = turn_id
        self._flushes = flushes
        self._key = key
        self._deliveries = deliveries
        self._prompt_tokens = prompt_tokens  # the context's estimated size
        self.reported: Usage | None = None  # the server's usage, when the stream said
        self._parts: list[str] = []
        self.parts: tuple[ContentPart, ...] | None = None  # images the answer made
        self._posted: tuple[str, ...] = ()  # the messages the sink has posted so far
        self._naming: asyncio.Task[None] | None = None
        self._closed = False

    def posted(self, ids: tuple[str, ...]) -> None:
        """The sink posted a message: name it on the stored turn, in the background
        (a sink never waits on the database; the latest ids win)."""
        if self._closed:
            return
        self._posted = ids
        if self._naming is None or self._naming.done():
            self._naming = asyncio.create_task(self._name_messages(), name="name-messages")

    async def _name_messages(self) -> None:
        written: tuple[str, ...] = ()
        while self._posted != written and not self._closed:
            written = self._posted
            try:
                await self._store.update_turn(self.turn_id, TurnUpdate(reply_message_ids=written))
            except StorageUnavailable as error:  # the answer goes on; its end names them
                log.warning(
                    "could not name answer %s's messages: database %s", self.turn_id, error.reason
                )
                return

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def spent(self) -> Usage:
        """The server's usage if it reported one, else an estimate of context and text."""
        return self.reported or Usage.estimate(self._prompt_tokens, estimate_tokens(self.text))

    async def add(self, text: str) -> None:
        self._parts.append(text)
        await self._flushes.grew(self)

    async def flush(self) -> None:
        """Store the text so far (the turn stays ``streaming``)."""
        self._flushes.forget(self)
        await self._store.update_turn(self.turn_id, TurnUpdate(text=self.text))

    async def _record(self, update: TurnUpdate) -> None:
        """The answer's last write, tried again while the database is unavailable."""
        for pause in (*RECORD_BACKOFF, None):
            try:
                await self._store.update_turn(self.turn_id, update)
                return
            except StorageUnavailable as error:
                if pause is None:
                    raise
                log.warning("could not record answer %s: database %s", self.turn_id, error.reason)
                await asyncio.sleep(pause)

    async def close(
        self,
        status: TurnStatus,
        *,
        usage: Usage | None = None,
        trace_id: str | None = None,
        message_ids: tuple[str, ...] = (),
        delivered: bool = True,
    ) -> None:
        """Record the answer's end; ``delivered`` only if the platform showed its final
        text, else it stays owed and ``deliveries`` tries it again."""
        self._closed = True
        if self._naming is not None:  # its write lands first: the last word is this one
            await asyncio.wait([self._naming])
        self._flushes.forget(self)
        message_ids = message_ids or self._posted
        text = self.text
        update = TurnUpdate(
            text=text,
            status=status,
            usage=usage,
            trace_id=trace_id,
            tokens=estimate_tokens(text),
            reply_message_ids=message_ids or None,
            parts=self.parts,
            delivery=Delivery.DELIVERED if delivered else None,
        )
        await self._record(update)
        if not delivered:
            stored = await self._store.get_turn(self.turn_id)
            if stored is not None:
                self._deliveries.owed(StoredTurn(self._key, stored))


def asked(key: ThreadKey, question: Turn) -> Incoming:
    """A stored question as the ``Incoming`` it came as, to answer it again (its images
    are in the stored turn, which the history brings in)."""
    return Incoming(
        key=key,
        message_id=question.platform_message_id or f"turn:{question.id}",
        author_id=question.author_id,
        author_name=question.author_name,
        text=question.text,
    )


def user_turn(
    incoming: Incoming,
    parts: tuple[ContentPart, ...] | None = None,
    *,
    status: TurnStatus = TurnStatus.COMPLETE,
) -> Turn:
    """The stored form of a message; ``parts`` default to its images as ``data:`` URLs.

    ``status``: ``pending`` for a question to answer; ``complete`` for context only.
    """
    if parts is None:
        parts = tuple(
            ImagePart(data_url(a.mime, a.data))
            for a in incoming.attachments
            if a.mime in IMAGE_MIMES
        )
    return Turn(
        role=Role.USER,
        text=incoming.text,
        author_id=incoming.author_id,
        author_name=incoming.author_name,
        parts=tuple(parts),
        platform_message_id=incoming.message_id,
        status=status,
        tokens=estimate_tokens(incoming.text, parts),
    )


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"
