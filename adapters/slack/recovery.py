"""Answers that outlive a crash, on Slack: their messages are recorded as they are
written, and the next start finishes them (see ``adapters/discord/recovery.py``).

- ``RecordingSink`` writes the ids (``channel:ts``) of an answer's messages to
  its stored turn as they appear, since the service stores them only when the
  answer ends. The turn is the thread's one ``streaming`` answer. The first
  message opens before the turn is stored, and the first words may be seconds
  away (the model is thinking), so from ``start`` to ``finish`` a watch records
  it as soon as both exist: a crash while the model thinks must not leave a
  stream open that nobody ends.
- ``finish_interrupted`` ends each recovered answer's last message with the
  interrupted notice: a native stream Slack still holds open is stopped with
  the notice as its last words (chat.update is refused on a streaming message,
  ``streaming_state_conflict``); a posted-and-edited message, or a stream Slack
  has already ended, is rewritten with chat.update. Failures are logged and
  skipped. Requests go through the connection's edit scheduler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.failures import translated
from adapters.slack.native import ENDED_CODES
from adapters.slack.target import SLACK_LIMITS
from bot import wording
from bot.domain import Role, StoredTurn, ThreadKey, TurnStatus, TurnUpdate
from bot.errors import PlatformError, ThreadlineError
from bot.ports import ConversationStore, QueueingSink, ReplySink
from bot.render import render_slack
from bot.streaming import EditScheduler

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


class RecordingSink:
    """A ``ReplySink`` that stores its messages' ids on the answer's turn as they appear.

    Messages open in the background (native streams), so the ids are compared at
    every ``append``: a message opened since is recorded then.
    """

    def __init__(self, inner: PostingSink, store: ConversationStore, key: ThreadKey) -> None:
        self._inner = inner
        self._store = store
        self._key = key
        self._turn_id: int | None = None
        self._saved: tuple[str, ...] = ()
        self._saving = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None

    async def queued(self, sentence: str) -> None:
        if isinstance(self._inner, QueueingSink):
            await self._inner.queued(sentence)

    async def start(self) -> None:
        await self._inner.start()
        self._watch = asyncio.create_task(self._record_first(), name="record-first-message")

    async def append(self, text: str) -> None:
        await self._inner.append(text)
        if self._inner.posted_ids != self._saved:
            await self._save()

    async def finish(self, footer: str = "") -> tuple[str, ...]:
        if self._watch is not None:  # the answer is ending: a turn stored after this is not ours
            self._watch.cancel()
            await asyncio.wait([self._watch])
        return await self._inner.finish(footer)

    async def attach(self, name: str, data: bytes, mime: str) -> None:
        await self._inner.attach(name, data, mime)

    async def _record_first(self) -> None:
        delay = WATCH_FIRST
        while not self._saved:
            await asyncio.sleep(delay)
            delay = min(delay * 2, WATCH_MAX)
            if self._inner.posted_ids != self._saved:
                await self._save()

    async def _save(self) -> None:
        async with self._saving:  # the watch and an append may both save; one at a time
            ids = self._inner.posted_ids
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


async def finish_interrupted(
    client: AsyncWebClient, scheduler: EditScheduler, answers: Sequence[StoredTurn]
) -> None:
    """Finish every answer a crash left half-written; one that fails is logged and skipped."""
    for stored in answers:
        try:
            await _finish(client, scheduler, stored)
        except ThreadlineError as error:
            log.warning("could not finish interrupted answer %s: %s", stored.turn.id, error)


async def _finish(client: AsyncWebClient, scheduler: EditScheduler, stored: StoredTurn) -> None:
    if not stored.turn.reply_message_ids:
        return  # nothing was posted (or not recorded): nothing to finish
    channel, _, ts = stored.turn.reply_message_ids[-1].rpartition(":")
    channel = channel or stored.key.channel
    notice = wording.interrupted_notice()
    try:
        with translated(channel):
            await scheduler.spend(
                channel,
                lambda: client.chat_stopStream(
                    channel=channel, ts=ts, markdown_text=f"\n\n{notice}"
                ),
            )
        return
    except PlatformError as error:
        if error.code not in ENDED_CODES:
            raise
    # Not streaming (posted and edited, or ended by Slack): write the text again.
    text = render_slack(f"{_last_part(stored.turn.text, stored)}\n\n{notice}")
    with translated(channel, workspace_wide=True):
        await scheduler.spend(
            channel, lambda: client.chat_update(channel=channel, ts=ts, text=text)
        )


def _last_part(text: str, stored: StoredTurn) -> str:
    """What the last message shows: all of a one-message answer; else the text's end,
    from a line break, within one message (the exact split is not stored)."""
    room = SLACK_LIMITS.max_message_chars * 3 // 4
    if len(stored.turn.reply_message_ids) == 1 and len(text) <= room:
        return text
    tail = text[-room:]
    return tail[tail.find("\n") + 1 :] if "\n" in tail else tail
