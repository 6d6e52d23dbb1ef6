"""Slack's native text streaming as a ``ReplySink``, falling back to post + edit.

chat.startStream opens a message in a thread, chat.appendStream adds markdown
to it, chat.stopStream ends it (https://docs.slack.dev/reference/methods/chat.startStream
and siblings). What shapes this module:

- Text is markdown (``markdown_text``): it is sent as the model wrote it, never
  mrkdwn-rendered, except that no mention in it can ping (``mentions.inert``, held
  back at a piece's end by ``MentionGuard``); ``markdown_text`` takes 12,000 characters.
- startStream needs a ``thread_ts``, and in channels ``recipient_user_id`` and
  ``recipient_team_id``. A top-level DM answer therefore uses the fallback.
- Rate tiers: appendStream is Tier 4 (100+/min per app per workspace, shared by
  every answer: ``AppendPacer``, first words first), start and stop are Tier 2
  (https://docs.slack.dev/apis/web-api/rate-limits): a stop waits for its
  turn, and an answer that cannot start a stream now uses the fallback. Tokens
  are coalesced: one append per ``append_interval`` per answer at most.
- Slack ends a stream about five minutes after it started (appends do not extend
  it; then ``message_not_in_streaming_state``). An answer rolls over to a new
  message after ``rollover_after``; an ended stream or ``msg_too_long`` at any
  point also continues the answer in a new message, so no text is lost. A code
  block open at a rollover is closed and reopened in the next message.
- If startStream is refused (``unknown_method``, ``not_allowed_token_type``,
  ``missing_scope`` …) the answer goes out as ``StreamedReply`` (chat.postMessage +
  chat.update under the shared ``EditScheduler``), and later answers skip the
  native attempt. A rate-limited start falls back for that answer only.

Message ids returned by ``finish`` are ``"{channel}:{ts}"``, like
``Incoming.message_id``, so the store can find an answer from its messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from enum import Enum

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.failures import REFUSED_CODES, translated
from adapters.slack.mentions import MentionGuard, inert, mrkdwn
from adapters.slack.target import SlackTarget
from adapters.slack.translate import message_id
from bot import wording
from bot.errors import NotDelivered, PlatformError, PlatformRateLimited, ThreadlineError
from bot.ports import Clock, PostedListener
from bot.shared_budget import SharedBudget
from bot.splitting import MAX_MARKER_CHARS, MIN_LIMIT, open_fence, opening_fence, take_first
from bot.streaming import EditScheduler, Rate, StreamedReply

__all__ = ["AppendPacer", "FallbackReply", "NativeReply", "NativeStreams", "StreamOptions"]

log = logging.getLogger(__name__)

# The stream is over on Slack's side, or this message is full: continue in a new one.
ENDED_CODES = frozenset({"message_not_in_streaming_state", "msg_too_long", "message_not_found"})
CLOSING_RESERVE = MAX_MARKER_CHARS + 1  # room kept for "\n```" when a message rolls over
MAX_RATE_LIMITED_IN_A_ROW = 5


@dataclass(frozen=True, slots=True)
class StreamOptions:
    append_interval: float = 1.0
    appends_per_minute: int = 100
    # chat.startStream and chat.stopStream are Tier 2 (20+ per minute each).
    starts_per_minute: int = 20
    stops_per_minute: int = 20
    rollover_after: float = 270.0
    max_chars: int = 12_000


class AppendPacer:
    """Spaces appendStream calls across every answer of the connection.

    Tier 4 is "100+ per minute" with short bursts tolerated: calls reserve
    their times in arrival order (GCRA, the virtual-scheduling form of a token
    bucket), one every ``60 / per_minute`` s on average and at most ``burst``
    at once. Progress appends leave ``reserve`` of the burst to first words, so
    an answer's first words never queue behind other answers' progress (as the
    edit scheduler keeps each window's last request for posts and final edits).
    """

    def __init__(
        self,
        per_minute: int,
        clock: Clock,
        *,
        burst: int = 20,
        reserve: int = 15,
        margin: float = 0.0,
        shared: SharedBudget | None = None,
        method: str = "",
    ) -> None:
        # Several workers: each call is also taken from the workspace's shared minute.
        self._shared, self._method = shared, method
        self._rate = Rate(max(1, per_minute), 60.0)
        self._gap = 60.0 / max(1, per_minute) * (1.0 + margin)
        self._clock = clock
        self._burst = max(1, burst)
        self._reserve = max(0, min(reserve, self._burst - 1))
        self._due = float("-inf")  # when the next call would go at the steady rate

    def try_take(self) -> bool:
        """Take a call's slot if one is free now (without waiting)."""
        now = self._clock.monotonic()
        if self._due - (self._burst - 1) * self._gap > now:
            return False
        self._due = max(self._due, now) + self._gap
        return True

    def wait(self, *, first_words: bool = False) -> float:
        """Seconds until ``take`` would go without waiting."""
        early = self._burst - 1 - (0 if first_words else self._reserve)
        return max(0.0, self._due - early * self._gap - self._clock.monotonic())

    async def take(self, *, first_words: bool = False) -> None:
        now = self._clock.monotonic()
        early = self._burst - 1 - (0 if first_words else self._reserve)
        at = max(now, self._due - early * self._gap)
        self._due = max(self._due, at) + self._gap
        if at > now:
            await self._clock.sleep(at - now)
        if self._shared is not None:
            await self._shared.take(self._method, self._rate, self._clock)


class NativeStreams:
    """What native answers share on one connection, and the choice of sink per answer."""

    def __init__(
        self,
        client: AsyncWebClient,
        scheduler: EditScheduler,
        options: StreamOptions,
        clock: Clock,
        *,
        enabled: bool = True,
    ) -> None:
        self.client = client
        self.scheduler = scheduler
        self.options = options
        self.clock = clock
        shared = scheduler.shared
        self.pacer = AppendPacer(
            options.appends_per_minute, clock, shared=shared, method="chat.appendStream"
        )
        # A stream opens only if Slack would take it now (else the answer uses the
        # fallback at once, rather than after a 429); a stop waits for its turn.
        # Paced at exactly Slack's rate, a call that reached Slack late made the next
        # one look early: one 429 on stopStream in some runs of bench/e2e.py at 20
        # conversations. 5 % under the rate leaves room for that jitter.
        self.starts = AppendPacer(options.starts_per_minute, clock, reserve=0, margin=0.05)
        self.stops = AppendPacer(
            options.stops_per_minute,
            clock,
            reserve=0,
            margin=0.05,
            shared=shared,
            method="chat.stopStream",
        )
        self.available = enabled  # False once Slack refused startStream to this app
        self._senders: set[asyncio.Task[None]] = set()

    def reply(self, target: SlackTarget) -> NativeReply | FallbackReply:
        if self.available and target.place.thread_ts is not None:
            return NativeReply(self, target)
        return FallbackReply(target, self.scheduler)

    def track(self, sender: asyncio.Task[None]) -> None:
        self._senders.add(sender)
        sender.add_done_callback(self._senders.discard)

    async def close(self) -> None:
        """Cancel the senders of answers that were never finished (a crashed answer)."""
        for sender in list(self._senders):
            sender.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)


class FallbackReply:
    """``StreamedReply`` (post + chat.update, mrkdwn) with ids as ``channel:ts``."""

    def __init__(self, target: SlackTarget, scheduler: EditScheduler) -> None:
        self._channel = target.place.channel
        self._target = target
        self._reply = StreamedReply(target, scheduler, mrkdwn)

    async def queued(self, sentence: str) -> None:
        await self._reply.queued(sentence)

    async def note(self, sentence: str) -> None:
        await self._reply.note(sentence)

    async def start(self) -> None:
        await self._reply.start()

    async def append(self, text: str) -> None:
        await self._reply.append(text)

    async def finish(self, footer: str = "") -> tuple[str, ...]:
        try:
            shown = await self._reply.finish(footer)
        except NotDelivered as error:  # its ids as the store names them: channel:ts
            raise NotDelivered(self._named(error.message_ids)) from error
        return self._named(shown)

    def report_posted(self, listener: PostedListener) -> None:
        """Report the messages as the store names them (``channel:ts``)."""
        self._reply.report_posted(lambda ids: listener(self._named(ids)))

    def _named(self, shown: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(message_id(self._channel, ts) for ts in shown)

    @property
    def posted_ids(self) -> tuple[str, ...]:
        """The messages posted so far."""
        return self._named(self._reply.posted_ids)

    async def attach(self, name: str, data: bytes, mime: str) -> None:
        await self._reply.attach(name, data, mime)


@dataclass(slots=True)
class _Message:
    """One streamed message: its ts, when it started, the markdown it shows."""

    ts: str
    started_at: float
    text: str


class _Sent(Enum):
    OK = "ok"
    AGAIN = "again"  # try the same text again (after a pause or in a new message)
    FALL_BACK = "fall_back"


class NativeReply:
    """One answer streamed natively; implements ``bot.ports.ReplySink``.

    ``append`` only buffers; one task per answer sends the buffer, so the
    service's stream never waits on Slack.
    """

    def __init__(self, streams: NativeStreams, target: SlackTarget) -> None:
        self._streams = streams
        self._client = streams.client
        self._clock = streams.clock
        self._options = streams.options
        self._target = target
        self._place = target.place
        self._max_chars = streams.options.max_chars
        self._pending: list[str] = []
        self._guard = MentionGuard()  # the pending text, made inert as it is taken
        self._work = asyncio.Event()
        self._finishing = asyncio.Event()
        self._footer = ""
        self._footer_shown = False
        self._message: _Message | None = None
        self._reopen = ""  # the code fence the next message starts inside
        self._ids: list[str] = []
        self._shown_words = False
        self._last_append: float | None = None
        self._limited_in_a_row = 0
        self._left_open: list[str] = []  # streams a stop did not reach (an outage)
        self._fallback: StreamedReply | None = None
        self._task: asyncio.Task[None] | None = None
        self._listener: PostedListener | None = None

    # -- ReplySink -------------------------------------------------------------------

    def report_posted(self, listener: PostedListener) -> None:
        """Tell ``listener`` every message this answer has opened, as each opens."""
        self._listener = listener
        if self.posted_ids:
            listener(self.posted_ids)

    def _report(self, _: object = None) -> None:
        if self._listener is not None:
            self._listener(self.posted_ids)

    def _posted_reply(self) -> StreamedReply:
        """The post + chat.update reply this answer continues in, reporting its posts."""
        reply = StreamedReply(self._target, self._streams.scheduler, mrkdwn)
        reply.report_posted(self._report)
        return reply

    async def queued(self, sentence: str) -> None:
        """Waiting for a slot: a stream cannot take its words back, so this answer is
        posted and edited (the fallback), its placeholder saying that it is queued."""
        if self._fallback is None:
            self._fallback = self._posted_reply()
        await self._fallback.queued(sentence)

    async def note(self, sentence: str) -> None:
        """Only a posted answer can show it: a stream cannot take its words back, and
        until its first words Slack shows the assistant's own status."""
        if self._fallback is not None:
            await self._fallback.note(sentence)

    async def start(self) -> None:
        """Show the assistant status, and (outside assistant threads) open the stream."""
        if self._fallback is not None:
            await self._fallback.start()
            return
        with contextlib.suppress(ThreadlineError):  # a missing status is cosmetic
            await self._target.typing()
        # In an assistant thread the "is thinking…" status shows until the first
        # words, so the stream opens with them; elsewhere it opens at once.
        self._task = asyncio.create_task(self._run(eager=not self._place.assistant))
        self._streams.track(self._task)

    async def append(self, text: str) -> None:
        if self._fallback is not None:
            await self._fallback.append(text)
            return
        self._pending.append(text)
        self._work.set()

    async def finish(self, footer: str = "") -> tuple[str, ...]:
        if self._task is None and self._fallback is None:
            await self.start()
        self._footer = footer
        self._finishing.set()
        self._work.set()
        if self._task is not None:
            await self._task
        ids = list(self._ids)
        if self._fallback is not None:
            try:
                shown = await self._fallback.finish("" if self._footer_shown else footer)
            except NotDelivered as error:  # with the streamed messages before it
                raise NotDelivered((*ids, *self._fallback_ids(error.message_ids))) from error
            ids += self._fallback_ids(shown)
        if self._left_open:  # Slack still shows a message streaming: not finished there
            raise NotDelivered(tuple(ids))
        return tuple(ids)

    def _fallback_ids(self, shown: tuple[str, ...]) -> list[str]:
        """The fallback's messages (``ts``) as the store names them (``channel:ts``)."""
        return [message_id(self._place.channel, ts) for ts in shown]

    @property
    def posted_ids(self) -> tuple[str, ...]:
        """The messages opened so far."""
        fallback = self._fallback.posted_ids if self._fallback is not None else ()
        return (*self._ids, *self._fallback_ids(fallback))

    async def attach(self, name: str, data: bytes, mime: str) -> None:
        """Share the file in the thread (files_upload_v2), beside the streamed text."""
        await self._target.upload(name, data, mime)

    # -- the sending task ------------------------------------------------------------

    async def _run(self, *, eager: bool) -> None:
        if eager and await self._send(None, "", stop=False) is _Sent.FALL_BACK:
            await self._fall_back("")
        while self._fallback is None:
            await self._next_batch()
            last = self._finishing.is_set()
            text = self._take_pending(last=last)
            if text is None:  # only a partial line near the rollover: wait for its end
                await self._line_or_expiry()
                continue
            if last:
                text += self._footer_block(text)
                if not self._shown_words and not text.strip():
                    text = wording.EMPTY_ANSWER
            await self._deliver(text, last=last)
            if last:
                return

    async def _next_batch(self) -> None:
        """Wait for text, then let it gather for ``append_interval`` and until Tier 4
        has room for a progress append now (unless finishing). Progress never queues
        behind other answers' appends: a queue there made every final wait its turn
        (bench/e2e.py Slack 20: the finals landed 0.6 s apart, the last after 10 s)."""
        while not self._pending and not self._finishing.is_set():
            self._work.clear()
            await self._work.wait()
        if self._finishing.is_set() or self._last_append is None:
            return
        wait = self._last_append + self._options.append_interval - self._clock.monotonic()
        if wait > 0:
            await self._clock.wait(self._finishing, wait)
        while not self._finishing.is_set() and (wait := self._streams.pacer.wait()) > 0:
            await self._clock.wait(self._finishing, wait)

    def _take_pending(self, *, last: bool) -> str | None:
        """The text appended since the last call, mentions made inert; unless ``last``,
        an end that could still become a mention waits for the next call, and near the
        rollover so does a partial line (None: nothing but a partial line yet)."""
        raw = "".join(self._pending)
        self._pending.clear()
        if not last:
            raw = self._whole_lines(raw)
            if not raw:
                return None
        text = self._guard.feed(raw)
        return text + self._guard.flush() if last else text

    async def _line_or_expiry(self) -> None:
        """Wait for more text; if the message expires first, end it (at a line end)."""
        self._work.clear()
        message = self._message
        if message is None:
            await self._work.wait()
            return
        left = message.started_at + self._options.rollover_after - self._clock.monotonic()
        if left > 0 and await self._clock.wait(self._work, left):
            return
        if self._message is message:
            await self._roll_over(message)

    def _whole_lines(self, text: str) -> str:
        """Near the rollover only whole lines go out; the partial one waits in pending.

        A message ends where its text ends: had an append stopped mid-line there,
        the rollover would cut a code line in two (issue 19). Past half a message,
        in characters or in time (``rollover_after``), the partial line is held
        back, unless it alone is longer than the room (then ``_split`` cuts it
        between words).
        """
        message = self._message
        used = len(message.text) if message is not None else len(self._reopen)
        young = message is None or (
            self._clock.monotonic() - message.started_at < self._options.rollover_after / 2
        )
        if used + len(text) <= self._max_chars // 2 and young:
            return text
        end = text.rfind("\n") + 1
        if end == 0 and len(text) >= self._room(message):
            return text
        if end < len(text):
            self._pending.insert(0, text[end:])
        return text[:end]

    def _footer_block(self, text: str) -> str:
        if not self._footer:
            return ""
        self._footer_shown = True
        if self._shown_words or text.strip():
            return f"\n\n{inert(self._footer)}"
        return inert(self._footer)

    async def _deliver(self, text: str, *, last: bool) -> None:
        """Show ``text``: appended, in a new message, or through the fallback."""
        while self._fallback is None:
            message = self._message
            if message is not None and self._expiring(message):
                await self._roll_over(message)
                continue
            if not text:
                if last and message is not None:
                    await self._roll_over(message)  # everything is shown: just end it
                return
            piece, rest = self._split(message, text)
            if not piece and message is not None:
                await self._roll_over(message)  # full: it ends at a line end
                continue
            outcome = await self._send(message, piece, stop=last and not rest)
            if outcome is _Sent.FALL_BACK:
                await self._fall_back(text)
                return
            if outcome is _Sent.OK:
                text = rest
                if rest and self._message is not None:
                    await self._roll_over(self._message)  # this message is full

    def _expiring(self, message: _Message) -> bool:
        return self._clock.monotonic() - message.started_at >= self._options.rollover_after

    def _split(self, message: _Message | None, text: str) -> tuple[str, str]:
        """``text`` split so the first part fits this message, where ``bot.splitting``
        would end a message (paragraph, line, word; never inside a fence line)."""
        room = self._room(message)
        if len(text) <= room:
            return text, ""
        if room < MIN_LIMIT:
            return "", text
        fence = open_fence(message.text if message is not None else self._reopen)
        prefix = fence.opener if fence is not None else ""  # already in the message
        chunk, carry = take_first(text, room + len(prefix), fence)
        return chunk.body, carry.rest if carry is not None else ""

    def _room(self, message: _Message | None) -> int:
        used = len(message.text) if message is not None else len(self._reopen)
        return max(1, self._max_chars - CLOSING_RESERVE - used)

    async def _send(self, message: _Message | None, piece: str, *, stop: bool) -> _Sent:
        """One Web API call; Slack's answer decides what happens next."""
        try:
            if message is None:
                if not self._streams.starts.try_take():
                    return _Sent.FALL_BACK  # Tier 2 is spent: post + update, no 429
                await self._open(piece)  # a last piece is stopped on the next turn
            elif stop:
                await self._stop(message, piece)
            else:
                await self._append(message, piece)
        except PlatformRateLimited as limited:
            if message is None or self._limited_in_a_row >= MAX_RATE_LIMITED_IN_A_ROW:
                return _Sent.FALL_BACK
            self._limited_in_a_row += 1
            await self._clock.sleep(limited.retry_after)
            return _Sent.AGAIN
        except PlatformError as error:
            if message is not None and error.code == "msg_too_long":
                await self._roll_over(message)  # full: the piece goes into a new message
                return _Sent.AGAIN
            return self._refused(message, piece, error)
        self._limited_in_a_row = 0
        return _Sent.OK

    def _refused(self, message: _Message | None, piece: str, error: PlatformError) -> _Sent:
        if error.code in ENDED_CODES:
            if message is not None:
                self._ended(message)  # Slack ended it: the piece goes into a new message
                return _Sent.AGAIN
            if error.code == "msg_too_long" and len(piece) // 2 >= MIN_LIMIT:
                self._max_chars = len(piece) // 2 + CLOSING_RESERVE + len(self._reopen)
                return _Sent.AGAIN
        if message is None and error.code in REFUSED_CODES:
            self._streams.available = False
            log.info("native streaming is not available to this app (%s)", error.code)
        else:
            log.warning("native streaming failed (%s); continuing with chat.update", error.code)
        return _Sent.FALL_BACK

    # -- Web API calls ---------------------------------------------------------------

    async def _open(self, piece: str) -> None:
        place = self._place
        text = self._reopen + piece
        with translated(place.channel):
            response = await self._client.chat_startStream(
                channel=place.channel,
                thread_ts=place.thread_ts or "",
                recipient_user_id=place.recipient_user_id,
                recipient_team_id=place.team_id,
                markdown_text=inert(text) or None,
            )
        now = self._clock.monotonic()
        self._message = _Message(str(response["ts"]), now, text)
        self._ids.append(message_id(place.channel, self._message.ts))
        self._report()
        self._reopen = ""
        self._note_words(piece, now)

    async def _append(self, message: _Message, piece: str) -> None:
        await self._streams.pacer.take(first_words=not self._shown_words)
        with translated(self._place.channel):
            await self._client.chat_appendStream(
                channel=self._place.channel, ts=message.ts, markdown_text=inert(piece)
            )
        message.text += piece
        self._note_words(piece, self._clock.monotonic())

    async def _stop(self, message: _Message, piece: str) -> None:
        await self._streams.stops.take()
        with translated(self._place.channel):
            await self._client.chat_stopStream(
                channel=self._place.channel, ts=message.ts, markdown_text=inert(piece) or None
            )
        message.text += piece
        self._message = None
        self._note_words(piece, self._clock.monotonic())

    def _note_words(self, piece: str, now: float) -> None:
        if piece.strip():
            self._shown_words = True
            self._last_append = now

    # -- rollover and fallback ---------------------------------------------------------

    async def _roll_over(
        self, message: _Message, *, attempts: int = MAX_RATE_LIMITED_IN_A_ROW
    ) -> None:
        """End ``message`` (closing an open code block) so the answer continues in a new one."""
        closing, opener = _fence_edges(message.text)
        stopped = False
        for _ in range(attempts):
            try:
                await self._stop(message, closing)
                stopped = True
                break
            except PlatformRateLimited as limited:
                await self._clock.sleep(limited.retry_after)
            except PlatformError as error:
                if error.code == "msg_too_long" and closing:
                    closing = ""  # no room even for the fence: stop without it
                    continue
                stopped = error.code in ENDED_CODES
                if not stopped:
                    log.warning("could not stop a streamed message (%s)", error.code)
                break
        if not stopped:
            self._left_open.append(message.ts)  # the answer is owed: recovery stops it
        self._message = None
        self._reopen = opener

    def _ended(self, message: _Message) -> None:
        """Slack ended ``message`` itself (expired, full): the next one reopens its code block."""
        self._message = None
        self._reopen = _fence_edges(message.text)[1]

    async def _fall_back(self, text: str) -> None:
        """Continue this answer with chat.postMessage + chat.update."""
        if self._message is not None:
            await self._roll_over(self._message, attempts=1)
        fallback = self._posted_reply()
        await fallback.start()
        text = self._reopen + text + (self._take_pending(last=True) or "")
        self._reopen = ""
        self._fallback = fallback
        if text:
            await fallback.append(text)


def _fence_edges(markdown: str) -> tuple[str, str]:
    """What closes the code block open at the end of ``markdown``, and what reopens it."""
    fence = None
    for line in markdown.split("\n"):
        if fence is None:
            fence = opening_fence(line)
        elif fence.is_closed_by(line):
            fence = None
    if fence is None:
        return "", ""
    closing = fence.marker if markdown.endswith("\n") else "\n" + fence.marker
    return closing, fence.opener
