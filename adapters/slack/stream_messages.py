"""The messages of one natively streamed Slack answer, and the Web API calls on them.

chat.startStream opens a message in a thread, chat.appendStream adds markdown
to it, chat.stopStream ends it (https://docs.slack.dev/reference/methods/chat.startStream
and siblings). ``StreamedMessages.send`` makes one such call and says from
Slack's answer what happens next (``Sent``); ``roll_over`` ends a message so the
answer continues in a new one, closing a code block open there and reopening it
in the next (where ``bot.splitting`` would: ``open_fence``, ``balance_fences``).
Text is markdown, its mentions made inert (``mentions.inert``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from adapters.slack.failures import REFUSED_CODES, translated
from adapters.slack.mentions import inert
from adapters.slack.stream_limits import (
    CLOSING_RESERVE,
    ENDED_CODES,
    MAX_RATE_LIMITED_IN_A_ROW,
    StreamShared,
)
from adapters.slack.translate import ReplyPlace, message_id
from bot.errors import PlatformError, PlatformRateLimited
from bot.splitting import MIN_LIMIT, balance_fences, open_fence, take_first

__all__ = ["Message", "Sent", "StreamedMessages"]

log = logging.getLogger("adapters.slack.native")  # one log for native streams, as before


@dataclass(slots=True)
class Message:
    """One streamed message: its ts, when it started, the markdown it shows."""

    ts: str
    started_at: float
    text: str


class Sent(Enum):
    OK = "ok"
    AGAIN = "again"  # try the same text again (after a pause or in a new message)
    FALL_BACK = "fall_back"


class StreamedMessages:
    """One answer's streamed messages: the open one, the ones before, what is shown."""

    def __init__(self, shared: StreamShared, place: ReplyPlace) -> None:
        self._shared = shared
        self._client = shared.client
        self._clock = shared.clock
        self._place = place
        self.max_chars = shared.options.max_chars
        self.message: Message | None = None  # the one streaming now
        self.reopen = ""  # the code fence the next message starts inside
        self.ids: list[str] = []  # every message opened, as "channel:ts"
        self.on_opened: Callable[[], None] | None = None  # told as each message opens
        self.shown_words = False
        self.last_append: float | None = None
        self.left_open: list[str] = []  # streams a stop did not reach (an outage)
        self._limited_in_a_row = 0

    def take_reopen(self) -> str:
        """The fence the next message would have reopened, now the caller's to show."""
        reopen, self.reopen = self.reopen, ""
        return reopen

    def expiring(self, message: Message) -> bool:
        return self._clock.monotonic() - message.started_at >= self._shared.options.rollover_after

    def room(self, message: Message | None) -> int:
        used = len(message.text) if message is not None else len(self.reopen)
        return max(1, self.max_chars - CLOSING_RESERVE - used)

    def split(self, message: Message | None, text: str) -> tuple[str, str]:
        """``text`` split so the first part fits this message, where ``bot.splitting``
        would end a message (paragraph, line, word; never inside a fence line)."""
        room = self.room(message)
        if len(text) <= room:
            return text, ""
        if room < MIN_LIMIT:
            return "", text
        fence = open_fence(message.text if message is not None else self.reopen)
        prefix = fence.opener if fence is not None else ""  # already in the message
        chunk, carry = take_first(text, room + len(prefix), fence)
        return chunk.body, carry.rest if carry is not None else ""

    async def send(self, message: Message | None, piece: str, *, stop: bool) -> Sent:
        """One Web API call; Slack's answer decides what happens next."""
        try:
            if message is None:
                if not self._shared.starts.try_take():
                    return Sent.FALL_BACK  # Tier 2 is spent: post + update, no 429
                await self._open(piece)  # a last piece is stopped on the next turn
            elif stop:
                await self._stop(message, piece)
            else:
                await self._append(message, piece)
        except PlatformRateLimited as limited:
            if message is None or self._limited_in_a_row >= MAX_RATE_LIMITED_IN_A_ROW:
                return Sent.FALL_BACK
            self._limited_in_a_row += 1
            await self._clock.sleep(limited.retry_after)
            return Sent.AGAIN
        except PlatformError as error:
            if message is not None and error.code == "msg_too_long":
                await self.roll_over(message)  # full: the piece goes into a new message
                return Sent.AGAIN
            return self._refused(message, piece, error)
        self._limited_in_a_row = 0
        return Sent.OK

    def _refused(self, message: Message | None, piece: str, error: PlatformError) -> Sent:
        if error.code in ENDED_CODES:
            if message is not None:
                self._ended(message)  # Slack ended it: the piece goes into a new message
                return Sent.AGAIN
            if error.code == "msg_too_long" and len(piece) // 2 >= MIN_LIMIT:
                self.max_chars = len(piece) // 2 + CLOSING_RESERVE + len(self.reopen)
                return Sent.AGAIN
        if message is None and error.code in REFUSED_CODES:
            self._shared.available = False
            log.info("native streaming is not available to this app (%s)", error.code)
        else:
            log.warning("native streaming failed (%s); continuing with chat.update", error.code)
        return Sent.FALL_BACK

    # -- Web API calls ---------------------------------------------------------------

    async def _open(self, piece: str) -> None:
        """chat.startStream: a new message opens (its id joins ``ids``)."""
        place = self._place
        text = self.reopen + piece
        with translated(place.channel):
            response = await self._client.chat_startStream(
                channel=place.channel,
                thread_ts=place.thread_ts or "",
                recipient_user_id=place.recipient_user_id,
                recipient_team_id=place.team_id,
                markdown_text=inert(text) or None,
            )
        now = self._clock.monotonic()
        self.message = Message(str(response["ts"]), now, text)
        self.ids.append(message_id(place.channel, self.message.ts))
        if self.on_opened is not None:
            self.on_opened()
        self.reopen = ""
        self._note_words(piece, now)

    async def _append(self, message: Message, piece: str) -> None:
        await self._shared.pacer.take(first_words=not self.shown_words)
        with translated(self._place.channel):
            await self._client.chat_appendStream(
                channel=self._place.channel, ts=message.ts, markdown_text=inert(piece)
            )
        message.text += piece
        self._note_words(piece, self._clock.monotonic())

    async def _stop(self, message: Message, piece: str) -> None:
        await self._shared.stops.take()
        with translated(self._place.channel):
            await self._client.chat_stopStream(
                channel=self._place.channel, ts=message.ts, markdown_text=inert(piece) or None
            )
        message.text += piece
        self.message = None
        self._note_words(piece, self._clock.monotonic())

    def _note_words(self, piece: str, now: float) -> None:
        if piece.strip():
            self.shown_words = True
            self.last_append = now

    # -- rollover ----------------------------------------------------------------------

    async def roll_over(
        self, message: Message, *, attempts: int = MAX_RATE_LIMITED_IN_A_ROW
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
            self.left_open.append(message.ts)  # the answer is owed: recovery stops it
        self.message = None
        self.reopen = opener

    def _ended(self, message: Message) -> None:
        """Slack ended ``message`` itself (expired, full): the next one reopens its code block."""
        self.message = None
        self.reopen = _fence_edges(message.text)[1]


def _fence_edges(markdown: str) -> tuple[str, str]:
    """What closes the code block open at the end of ``markdown``, and what reopens it."""
    fence = open_fence(markdown)
    if fence is None:
        return "", ""
    return balance_fences(markdown)[len(markdown) :], fence.opener
