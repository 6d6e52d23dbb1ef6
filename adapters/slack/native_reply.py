"""One answer streamed natively into a Slack thread, as a ``bot.ports.ReplySink``.

``append`` only buffers; one task per answer gathers the buffer and sends it
(``StreamedMessages``), so the service's stream never waits on Slack. Tokens are
coalesced: one append per ``append_interval`` per answer at most. A message
rolls over to a new one after ``rollover_after`` (Slack ends a stream about five
minutes after it started), or when full; near the rollover only whole lines go
out, so a rollover never cuts a code line in two. When the native path is
refused or out of budget, the answer continues posted and edited (the fallback).
"""

from __future__ import annotations

import asyncio
import contextlib

from adapters.slack.mentions import MentionGuard, inert, mrkdwn
from adapters.slack.stream_limits import StreamShared
from adapters.slack.stream_messages import Sent, StreamedMessages
from adapters.slack.target import SlackTarget
from adapters.slack.translate import message_id
from bot import wording
from bot.errors import NotDelivered, ThreadlineError
from bot.ports import PostedListener
from bot.streaming import StreamedReply

__all__ = ["NativeReply"]


class NativeReply:
    """One answer streamed natively; implements ``bot.ports.ReplySink``.

    ``append`` only buffers; one task per answer sends the buffer, so the
    service's stream never waits on Slack.
    """

    def __init__(self, streams: StreamShared, target: SlackTarget) -> None:
        self._streams = streams
        self._clock = streams.clock
        self._options = streams.options
        self._target = target
        self._place = target.place
        self._messages = StreamedMessages(streams, target.place)
        self._pending: list[str] = []
        self._guard = MentionGuard()  # the pending text, made inert as it is taken
        self._work = asyncio.Event()
        self._finishing = asyncio.Event()
        self._footer = ""
        self._footer_shown = False
        self._fallback: StreamedReply | None = None
        self._task: asyncio.Task[None] | None = None
        self._listener: PostedListener | None = None
        self._messages.on_opened = self._report

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
        ids = list(self._messages.ids)
        if self._fallback is not None:
            try:
                shown = await self._fallback.finish("" if self._footer_shown else footer)
            except NotDelivered as error:  # with the streamed messages before it
                raise NotDelivered((*ids, *self._fallback_ids(error.message_ids))) from error
            ids += self._fallback_ids(shown)
        if self._messages.left_open:  # Slack still shows a message streaming: not finished
            raise NotDelivered(tuple(ids))
        return tuple(ids)

    def _fallback_ids(self, shown: tuple[str, ...]) -> list[str]:
        """The fallback's messages (``ts``) as the store names them (``channel:ts``)."""
        return [message_id(self._place.channel, ts) for ts in shown]

    @property
    def posted_ids(self) -> tuple[str, ...]:
        """The messages opened so far."""
        fallback = self._fallback.posted_ids if self._fallback is not None else ()
        return (*self._messages.ids, *self._fallback_ids(fallback))

    async def attach(self, name: str, data: bytes, mime: str) -> None:
        """Share the file in the thread (files_upload_v2), beside the streamed text."""
        await self._target.upload(name, data, mime)

    # -- the sending task ------------------------------------------------------------

    async def _run(self, *, eager: bool) -> None:
        if eager and await self._messages.send(None, "", stop=False) is Sent.FALL_BACK:
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
                if not self._messages.shown_words and not text.strip():
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
        last_append = self._messages.last_append
        if self._finishing.is_set() or last_append is None:
            return
        wait = last_append + self._options.append_interval - self._clock.monotonic()
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
        message = self._messages.message
        if message is None:
            await self._work.wait()
            return
        left = message.started_at + self._options.rollover_after - self._clock.monotonic()
        if left > 0 and await self._clock.wait(self._work, left):
            return
        if self._messages.message is message:
            await self._messages.roll_over(message)

    def _whole_lines(self, text: str) -> str:
        """Near the rollover only whole lines go out; the partial one waits in pending.

        A message ends where its text ends: had an append stopped mid-line there,
        the rollover would cut a code line in two (issue 19). Past half a message,
        in characters or in time (``rollover_after``), the partial line is held
        back, unless it alone is longer than the room (then ``split`` cuts it
        between words).
        """
        messages = self._messages
        message = messages.message
        used = len(message.text) if message is not None else len(messages.reopen)
        young = message is None or (
            self._clock.monotonic() - message.started_at < self._options.rollover_after / 2
        )
        if used + len(text) <= messages.max_chars // 2 and young:
            return text
        end = text.rfind("\n") + 1
        if end == 0 and len(text) >= messages.room(message):
            return text
        if end < len(text):
            self._pending.insert(0, text[end:])
        return text[:end]

    def _footer_block(self, text: str) -> str:
        if not self._footer:
            return ""
        self._footer_shown = True
        if self._messages.shown_words or text.strip():
            return f"\n\n{inert(self._footer)}"
        return inert(self._footer)

    async def _deliver(self, text: str, *, last: bool) -> None:
        """Show ``text``: appended, in a new message, or through the fallback."""
        messages = self._messages
        while self._fallback is None:
            message = messages.message
            if message is not None and messages.expiring(message):
                await messages.roll_over(message)
                continue
            if not text:
                if last and message is not None:
                    await messages.roll_over(message)  # everything is shown: just end it
                return
            piece, rest = messages.split(message, text)
            if not piece and message is not None:
                await messages.roll_over(message)  # full: it ends at a line end
                continue
            outcome = await messages.send(message, piece, stop=last and not rest)
            if outcome is Sent.FALL_BACK:
                await self._fall_back(text)
                return
            if outcome is Sent.OK:
                text = rest
                if rest and messages.message is not None:
                    await messages.roll_over(messages.message)  # this message is full

    async def _fall_back(self, text: str) -> None:
        """Continue this answer with chat.postMessage + chat.update."""
        if self._messages.message is not None:
            await self._messages.roll_over(self._messages.message, attempts=1)
        fallback = self._posted_reply()
        await fallback.start()
        text = self._messages.take_reopen() + text + (self._take_pending(last=True) or "")
        self._fallback = fallback
        if text:
            await fallback.append(text)
