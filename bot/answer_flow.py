"""One answer, top to bottom: prepare → start → stream → conclude.

``prepare`` builds the request (bot/answer_request.py); a question that cannot
be asked gets its sentence and is settled. ``start`` stores the answer turn
before its first message and lets the sink name its messages as they are posted
(a crash at any point leaves an answer the next start finds and finishes,
bot/delivery.py), then starts the reply. ``stream`` writes the model's text into
the reply and the turn; an image model's answer is held back and shown once its
images are posted. ``conclude`` ends it once: complete, failed (upstream error,
text kept), interrupted (stopped or shut down) or crashed (a bug: a sentence in
the thread, the traceback in the log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from bot import wording
from bot.answer_request import Prepared, Preparer
from bot.answer_writer import AnswerWriter, Flushes, store_answer
from bot.candidates import Gathered, show_others, store_others
from bot.concurrency import ReplySlots
from bot.conversation import Context
from bot.delivery import Deliveries
from bot.domain import Incoming, ThreadKey, Turn, TurnStatus, TurnUpdate, Usage
from bot.errors import NotDelivered, StorageUnavailable, ThreadlineError, UpstreamError
from bot.image_flow import ImageFlow
from bot.json_answers import JsonSink, json_problem
from bot.metrics import Metrics
from bot.models import Route
from bot.outcomes import Outcome, ReplyResult, say, unsaved
from bot.ports import (
    Clock,
    CompletionClient,
    ConversationStore,
    QueueingSink,
    ReplySink,
    ReportingSink,
)
from bot.upstream.types import ChatRequest

__all__ = ["AnswerFlow"]

log = logging.getLogger(__name__)


@dataclass
class _Running:
    """One answer between its start and its end."""

    key: ThreadKey
    answer: Turn  # its stored turn
    route: Route
    request: ChatRequest
    writer: AnswerWriter
    reply: ReplySink  # the reply itself (candidate headings go here)
    sink: ReplySink  # what the text goes through: the reply, or a JSON fence around it
    started: float
    holding: bool  # an image model's answer: shown once its images are posted
    gathered: Gathered | None
    notices: list[str] = field(default_factory=list)
    others: tuple[int, ...] = ()  # the other candidates' turn ids (n > 1)

    @property
    def answer_id(self) -> int:
        assert self.answer.id is not None
        return self.answer.id


class AnswerFlow:
    """Answers a stored question into a sink (``answer``); the caller holds the
    thread's turn and a reply slot."""

    def __init__(
        self,
        *,
        store: ConversationStore,
        client: CompletionClient,
        preparer: Preparer,
        images: ImageFlow,
        slots: ReplySlots,
        metrics: Metrics,
        deliveries: Deliveries,
        clock: Clock,
        flush_interval: float,
        still_waiting_seconds: float,
        finish_grace: float,
    ) -> None:
        self._store = store
        self._client = client
        self._preparer = preparer
        self._images = images
        self._slots = slots
        self._metrics = metrics
        self._deliveries = deliveries
        self._clock = clock
        self._flushes = Flushes(store, clock, flush_interval)
        self._still_waiting = still_waiting_seconds
        self._finish_grace = finish_grace
        self._trim_told: set[ThreadKey] = set()

    async def answer(
        self, incoming: Incoming, question: Turn, sink: ReplySink, started: float
    ) -> ReplyResult:
        """Answer ``question``, counted in the metrics (bot/metrics.py); never raises for
        upstream trouble."""
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
        prepared = await self._prepare(incoming, question, sink)
        if isinstance(prepared, ReplyResult):
            return prepared
        running = await self._start(incoming, question, prepared, sink, started)
        if isinstance(running, ReplyResult):
            return running
        try:
            usage = await self._stream(running)
        except UpstreamError as error:
            return await self._failed(running, error)
        except asyncio.CancelledError:
            await self._interrupted(running)
            raise
        except Exception:
            # The use-case boundary: whatever broke, the thread gets a sentence and
            # the answer's record is finished; the traceback goes to the operator.
            log.exception("answer crashed in %s", incoming.key)
            return await self._crashed(running)
        return await self._complete(running, usage)

    # -- prepare -----------------------------------------------------------------------

    async def _prepare(
        self, incoming: Incoming, question: Turn, sink: ReplySink
    ) -> Prepared | ReplyResult:
        try:
            return await self._preparer.prepare(incoming, question)
        except ThreadlineError as error:  # e.g. a stored temperature the API refuses
            await say(sink, f"⚠️ {error.user_message}")
            if question.status is TurnStatus.PENDING and question.id is not None:
                # Told why there is no answer: the question is settled, not asked again.
                await self._store.update_turn(question.id, TurnUpdate(status=TurnStatus.COMPLETE))
            return ReplyResult(Outcome.FAILED, error=error)

    # -- start -------------------------------------------------------------------------

    async def _start(
        self,
        incoming: Incoming,
        question: Turn,
        prepared: Prepared,
        reply: ReplySink,
        started: float,
    ) -> _Running | ReplyResult:
        """Store the answer turn, hook the sink's message ids to it, then start the reply."""
        route, request = prepared.route, prepared.request
        try:
            answer = await store_answer(self._store, incoming, question, route.model)
        except StorageUnavailable as error:  # the question stays pending: asked again at start
            return await unsaved(incoming.key, error, reply)
        assert answer.id is not None
        writer = AnswerWriter(
            self._store,
            answer.id,
            self._flushes,
            incoming.key,
            self._deliveries,
            prepared.context.estimated_tokens,
        )
        if isinstance(reply, ReportingSink):
            reply.report_posted(writer.posted)
        json_asked = request.response_format == {"type": "json_object"}
        sink = JsonSink(reply) if json_asked else reply  # a code block, checked once complete
        await sink.start()
        gathered = Gathered(request.n) if request.n and request.n > 1 else None
        if gathered is not None:
            await reply.append(wording.candidate_heading(1, gathered.n))
        notices = self._notices(incoming.key, prepared.context, route)
        return _Running(
            incoming.key,
            answer,
            route,
            request,
            writer,
            reply,
            sink,
            started,
            prepared.holds_answer,
            gathered,
            notices,
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

    # -- stream ------------------------------------------------------------------------

    async def _stream(self, running: _Running) -> Usage:
        """The model's text into the reply and the turn; then what follows it (posted
        images, the JSON check, the other candidates). The usage to count."""
        writer, sink = running.writer, running.sink
        usage = await self._deltas(running, None if running.holding else sink)
        if usage is None:  # the stream reported none: count an estimate (quotas)
            usage = writer.spent()
        if running.holding:
            delivered = await self._images.deliver(writer.text, sink)
            await sink.append(delivered.text)
            writer.parts = delivered.parts
            if delivered.failed:
                running.notices.append(wording.image_upload_failed(delivered.failed))
        if isinstance(sink, JsonSink) and (problem := json_problem(writer.text)) is not None:
            running.notices.append(problem)
        if running.gathered is not None:
            gathered = running.gathered
            running.notices += await show_others(gathered, running.reply, sink)
            others = await store_others(self._store, running.key, running.answer, gathered.others())
            running.others = others
        return usage

    async def _deltas(self, running: _Running, sink: ReplySink | None) -> Usage | None:
        """Read the stream: choice 0 to ``sink`` (None: held back) and the writer, the
        other choices gathered; the usage if the server reported one."""
        usage, first, writer, gathered = None, True, running.writer, running.gathered
        waiting = self._notes(sink)
        try:
            async with contextlib.aclosing(self._client.stream(running.request)) as deltas:
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
                        self._slots.succeeded()
                        elapsed = self._clock.monotonic() - running.started
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
        every = self._still_waiting

        async def note() -> None:
            waited = 0.0
            while True:
                await self._clock.sleep(every)
                waited += every
                with contextlib.suppress(ThreadlineError):  # a missing note is cosmetic
                    await shows.note(wording.still_waiting(round(waited)))

        return asyncio.create_task(note(), name="still-waiting")

    # -- conclude ----------------------------------------------------------------------

    async def _complete(self, running: _Running, usage: Usage) -> ReplyResult:
        writer = running.writer
        footer = "\n".join(running.notices)
        ids = await self._conclude(running, footer, TurnStatus.COMPLETE, usage=usage)
        self._metrics.time_to_final_edit.observe(self._clock.monotonic() - running.started)
        answer_id, model = running.answer_id, running.route.model
        candidates = (answer_id, *running.others) if running.others else ()
        return ReplyResult(
            Outcome.ANSWERED, writer.text, None, answer_id, model, usage, ids, candidates
        )

    async def _failed(self, running: _Running, error: UpstreamError) -> ReplyResult:
        """The upstream failed: what was written is kept, with the sentence saying why."""
        log.warning("answer failed in %s: %s", running.key, error)
        writer = running.writer
        footer = "\n".join([*running.notices, f"⚠️ {error.user_message}"])
        await self._conclude(
            running,
            footer,
            TurnStatus.FAILED,
            usage=writer.spent() if writer.text else writer.reported,
            trace_id=error.trace_id,
        )
        model = running.route.model
        return ReplyResult(Outcome.FAILED, writer.text, error, running.answer_id, model)

    async def _crashed(self, running: _Running) -> ReplyResult:
        """A bug: the thread gets a sentence and the answer's record is finished."""
        shown: tuple[str, ...] = ()
        landed = False
        with contextlib.suppress(Exception):
            shown, landed = await running.sink.finish(f"⚠️ {wording.internal_error()}"), True
        writer = running.writer
        await writer.close(TurnStatus.FAILED, message_ids=shown, delivered=landed)
        model = running.route.model
        return ReplyResult(Outcome.FAILED, writer.text, None, running.answer_id, model)

    async def _interrupted(self, running: _Running) -> None:
        """Keep what was written when an answer is stopped or the process shuts down."""
        writer, delivered = running.writer, False
        try:
            async with asyncio.timeout(5):
                ids, delivered = await running.sink.finish(wording.stopped_notice()), True
        except NotDelivered as error:
            ids = error.message_ids
        except (TimeoutError, ThreadlineError):
            ids = ()
        # What was streamed was spent: it counts (an estimate, unless the server said).
        spent = writer.spent() if writer.text else writer.reported
        await asyncio.shield(
            writer.close(TurnStatus.INTERRUPTED, usage=spent, message_ids=ids, delivered=delivered)
        )

    async def _conclude(
        self,
        running: _Running,
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
        sink, writer = running.sink, running.writer

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
