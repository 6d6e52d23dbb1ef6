"""Answers that outlive a crash, on Slack: their messages are recorded as they are
written, and the next start finishes them (see ``adapters/discord/recovery.py``).

- ``RecordingSink`` writes the ids (``channel:ts``) of an answer's messages to
  its stored turn as they appear, since the service stores them only when the
  answer ends. The turn is the thread's one ``streaming`` answer. The first
  message opens before the turn is stored, and the first words may be seconds
  away (the model is thinking), so from ``start`` to ``finish`` a watch records
  it as soon as both exist: a crash while the model thinks must not leave a
  stream open that nobody ends.
- ``SlackRepairer`` shows every answer still owed (``bot.delivery``: a crash's
  ``interrupted`` answers, outages' undelivered ones, repairs a second crash
  cut): a native stream Slack still holds open is stopped (an interrupted one
  with the notice as its last words); otherwise the stored answer is written
  into its messages again with chat.update. One that fails stays owed and is
  tried again with backoff (and at the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.failures import translated
from adapters.slack.mentions import inert, mrkdwn
from adapters.slack.native import ENDED_CODES
from adapters.slack.target import SlackTarget
from adapters.slack.translate import ReplyPlace, message_id, place_of
from bot import wording
from bot.delivery import ReplayTarget, ending
from bot.domain import Role, StoredTurn, ThreadKey, TurnStatus, TurnUpdate
from bot.errors import PlatformError, ThreadlineError
from bot.ports import ConversationStore, MessageRef, ReplySink
from bot.sinks import PassingSink
from bot.streaming import EditScheduler, StreamedReply

log = logging.getLogger(__name__)

SEARCH_TURNS = 200  # as far back as the streaming answer is looked for (see discord)
# How often a just-started answer's first message and turn are looked for (see discord).
WATCH_FIRST, WATCH_MAX = 0.01, 0.25


class PostingSink(ReplySink, Protocol):
    @property
    def posted_ids(self) -> tuple[str, ...]: ...


async def streaming_answer(store: ConversationStore, key: ThreadKey) -> int | None:
    """The id of the answer being written in ``key``'s thread, once it is stored."""
    window = await store.history(key, token_budget=10**12, max_turns=SEARCH_TURNS)
    for turn in reversed(window.turns):
        if turn.role is Role.ASSISTANT and turn.status is TurnStatus.STREAMING:
            return turn.id
    return None


class RecordingSink(PassingSink):
    """A ``ReplySink`` that stores its messages' ids on the answer's turn as they appear.

    Messages open in the background (native streams), so the ids are compared at
    every ``append``: a message opened since is recorded then.
    """

    def __init__(self, inner: PostingSink, store: ConversationStore, key: ThreadKey) -> None:
        super().__init__(inner)
        self._posting = inner
        self._store = store
        self._key = key
        self._turn_id: int | None = None
        self._saved: tuple[str, ...] = ()
        self._saving = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._inner.start()
        self._watch = asyncio.create_task(self._record_first(), name="record-first-message")

    async def append(self, text: str) -> None:
        await self._inner.append(text)
        if self._posting.posted_ids != self._saved:
            await self._save()

    async def finish(self, footer: str = "") -> tuple[str, ...]:
        if self._watch is not None:  # the answer is ending: a turn stored after this is not ours
            self._watch.cancel()
            await asyncio.wait([self._watch])
        return await self._inner.finish(footer)

    async def _record_first(self) -> None:
        delay = WATCH_FIRST
        while not self._saved:
            await asyncio.sleep(delay)
            delay = min(delay * 2, WATCH_MAX)
            if self._posting.posted_ids != self._saved:
                await self._save()

    async def _save(self) -> None:
        async with self._saving:  # the watch and an append may both save; one at a time
            ids = self._posting.posted_ids
            if ids == self._saved:
                return
            try:
                if self._turn_id is None:
                    self._turn_id = await streaming_answer(self._store, self._key)
                    if self._turn_id is None:
                        return
                await self._store.update_turn(self._turn_id, TurnUpdate(reply_message_ids=ids))
                self._saved = ids
            except Exception:
                # Only recovery after a crash needs the record; the answer goes on without it.
                log.exception("could not record the messages of an answer in %s", self._key)


class SlackRepairer:
    """``bot.delivery.Repairer`` for Slack, through the connection's edit scheduler.

    An ``interrupted`` answer whose native stream Slack still holds open is
    stopped with the interrupted notice as its last words (chat.update is refused
    on a streaming message, ``streaming_state_conflict``). Otherwise an open
    stream is stopped quietly and the stored answer is replayed into its
    messages with chat.update (the n-th part into the n-th message; more parts
    are posted), ending as it ended (``delivery.ending``).
    """

    def __init__(
        self,
        client: AsyncWebClient,
        scheduler: EditScheduler,
        target: Callable[[ReplyPlace], SlackTarget],
    ) -> None:
        self._client = client
        self._scheduler = scheduler
        self._target = target

    async def repair(self, answer: StoredTurn) -> tuple[str, ...]:
        turn = answer.turn
        refs = [_ref(answer, message) for message in turn.reply_message_ids]
        interrupted = turn.status is TurnStatus.INTERRUPTED
        if refs and interrupted and await self._stop(refs[-1], ending(answer)):
            return turn.reply_message_ids  # the stream ended with the notice
        for ref in refs:  # streams an outage left open: chat.update is refused on them
            await self._stop(ref, "")
        place = place_of(answer.key, turn.requester_id)
        target = self._target(place)
        reply = StreamedReply(ReplayTarget(target, refs), self._scheduler, mrkdwn)
        await reply.start()
        await reply.append(turn.text)
        shown = await reply.finish(ending(answer))  # NotDelivered when a part did not land
        for extra in refs[len(shown) :]:  # the replay needed fewer messages than it had
            await self._scheduler.spend(target.bucket, functools.partial(target.delete, extra))
        log.info("finished answer %s in %s", turn.id, answer.key)
        return tuple(message_id(place.channel, ts) for ts in shown)

    async def tell(self, answer: StoredTurn) -> None:
        for stored_id in answer.turn.reply_message_ids:  # no stream left open, if Slack lets us
            with contextlib.suppress(ThreadlineError):
                await self._stop(_ref(answer, stored_id), "")
        target = self._target(place_of(answer.key, answer.turn.requester_id))
        text = mrkdwn(wording.answer_not_shown())
        await self._scheduler.spend(target.bucket, lambda: target.post(text))

    async def _stop(self, ref: MessageRef, notice: str) -> bool:
        """End the stream ``ref`` if Slack still holds it open; False if it had ended."""
        channel, ts = ref.channel, ref.id
        try:
            with translated(channel):
                await self._scheduler.spend(
                    channel,
                    lambda: self._client.chat_stopStream(
                        channel=channel,
                        ts=ts,
                        markdown_text=inert(f"\n\n{notice}") if notice else None,
                    ),
                )
        except PlatformError as error:
            if error.code not in ENDED_CODES:
                raise
            return False
        return True


def _ref(answer: StoredTurn, stored_id: str) -> MessageRef:
    channel, _, ts = stored_id.rpartition(":")
    return MessageRef(channel or answer.key.channel, ts)


class WorkspaceRepairer:
    """``bot.delivery.Repairer`` for every workspace one deployment serves: each answer
    is repaired in its own workspace, through that workspace's token and budget."""

    def __init__(self, repairer_for: Callable[[str], Awaitable[SlackRepairer | None]]) -> None:
        self._repairer_for = repairer_for

    async def repair(self, answer: StoredTurn) -> tuple[str, ...]:
        return await (await self._for(answer)).repair(answer)

    async def tell(self, answer: StoredTurn) -> None:
        await (await self._for(answer)).tell(answer)

    async def _for(self, answer: StoredTurn) -> SlackRepairer:
        found = await self._repairer_for(answer.key.workspace)
        if found is None:  # the workspace removed the app: nothing can reach it
            raise PlatformError(wording.slack_not_installed(), code="not_installed")
        return found
