"""Answers that outlive a crash, on Slack: the next start finishes them (see
``adapters/discord/recovery.py``). The core names an answer's messages
(``channel:ts``) on its stored turn as they open (``ReportingSink``), so:

- ``SlackRepairer`` shows every answer still owed (``bot.delivery``: a crash's
  ``interrupted`` answers, outages' undelivered ones, repairs a second crash
  cut): a native stream Slack still holds open is stopped (an interrupted one
  with the notice as its last words); otherwise the stored answer is written
  into its messages again with chat.update. One that fails stays owed and is
  tried again with backoff (and at the next start).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.failures import translated
from adapters.slack.mentions import inert, mrkdwn
from adapters.slack.native import ENDED_CODES
from adapters.slack.target import SlackTarget
from adapters.slack.translate import ReplyPlace, message_id, place_of
from bot import wording
from bot.delivery import ReplayTarget, ending
from bot.domain import StoredTurn, TurnStatus
from bot.errors import PlatformError, ThreadlineError
from bot.ports import MessageRef
from bot.streaming import EditScheduler, StreamedReply

log = logging.getLogger(__name__)


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
