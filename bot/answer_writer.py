"""An answer's turn as it is written: its text flushed as it grows, its end recorded.

The text of every streaming answer is stored together once per flush interval
(``Flushes``); each answer's messages are named on its turn as the sink posts
them, and its last write (``AnswerWriter.close``) is tried again while the
database will not take it, then handed to ``deliveries`` if the platform never
showed the final text.
"""

from __future__ import annotations

import asyncio
import logging

from bot.conversation import estimate_tokens
from bot.delivery import Deliveries
from bot.domain import (
    ContentPart,
    Delivery,
    Incoming,
    Role,
    StoredTurn,
    ThreadKey,
    Turn,
    TurnStatus,
    TurnUpdate,
    Usage,
)
from bot.errors import StorageUnavailable
from bot.ports import Clock, ConversationStore

__all__ = ["RECORD_BACKOFF", "AnswerWriter", "Flushes", "store_answer"]

log = logging.getLogger(__name__)


async def store_answer(
    store: ConversationStore, incoming: Incoming, question: Turn, model: str
) -> Turn:
    """The answer turn, stored ``streaming`` before its first message is posted."""
    answer = await store.add_turn(
        incoming.key,
        Turn(
            role=Role.ASSISTANT,
            text="",
            author_name="threadline",
            requester_id=incoming.author_id,
            reply_to=question.id,
            status=TurnStatus.STREAMING,
            model=model,
            delivery=Delivery.PENDING,  # until the platform shows its final text
        ),
    )
    # An assistant turn has no platform message id, so it is never a duplicate.
    assert answer is not None
    return answer


class Flushes:
    """The text of every streaming answer, stored together once per ``interval``.

    The first token after the interval stores every answer that grew since the
    last flush in one statement (``update_texts``): with 200 answers streaming,
    one write a second instead of 200. A crash loses at most an interval of text.
    """

    def __init__(self, store: ConversationStore, clock: Clock, interval: float) -> None:
        self._store = store
        self._clock = clock
        self._interval = interval
        self._grown: dict[int, AnswerWriter] = {}
        self._flushed_at = clock.monotonic()

    async def grew(self, writer: AnswerWriter) -> None:
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

    def forget(self, writer: AnswerWriter) -> None:
        """The answer is ending: its last write is its own."""
        self._grown.pop(writer.turn_id, None)


# Pauses between tries of an answer's last write when the database will not take
# it (locked, full): about a minute, so an answer is not left ``streaming`` while
# the process runs; past that the next start marks it interrupted and repairs it.
RECORD_BACKOFF = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0)


class AnswerWriter:
    """The assistant turn's text, flushed to the store as it grows."""

    def __init__(
        self,
        store: ConversationStore,
        turn_id: int,
        flushes: Flushes,
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
