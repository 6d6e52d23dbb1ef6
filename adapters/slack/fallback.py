"""A Slack answer posted and edited (chat.postMessage + chat.update), not streamed.

Used where a native stream cannot go (a top-level DM, an app without
chat.startStream): ``StreamedReply`` under the shared ``EditScheduler``, its
text mrkdwn, its message ids ``"{channel}:{ts}"`` as the store names them.
"""

from __future__ import annotations

from adapters.slack.mentions import mrkdwn
from adapters.slack.target import SlackTarget
from adapters.slack.translate import message_id
from bot.errors import NotDelivered
from bot.ports import PostedListener
from bot.streaming import EditScheduler, StreamedReply

__all__ = ["FallbackReply"]


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
