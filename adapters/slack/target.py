"""``ReplyTarget`` for one Slack thread: chat.postMessage / chat.update / chat.delete.

Text sent here is mrkdwn (``bot.render.render_slack`` made it). Limits:

- 4,000 characters per message: ``text`` is truncated at 40,000, but Slack asks
  for 4,000 and answers ``msg_too_long`` near there in practice
  (https://docs.slack.dev/reference/methods/chat.postMessage#truncating-content,
  ARCHITECTURE.md "Platform facts").
- The edit scheduler's budget (``bot.streaming.SLACK_BUDGET``) covers the rate
  limits; a 429 becomes ``PlatformRateLimited`` with ``bucket`` = the channel.
  chat.postMessage is limited per channel (~1/s); chat.update and chat.delete
  per app per workspace (Tier 3, https://docs.slack.dev/reference/methods/chat.update),
  so their 429s are global: the scheduler pauses every edit, not one channel's.
"""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.assistant import AssistantThreads
from adapters.slack.failures import translated
from adapters.slack.translate import ReplyPlace
from bot.ports import MessageRef, PlatformLimits

__all__ = ["SLACK_LIMITS", "SlackTarget"]

SLACK_LIMITS = PlatformLimits(max_message_chars=4_000)


class SlackTarget:
    """One reply's messages in one thread (or at the top of a DM)."""

    def __init__(
        self, client: AsyncWebClient, place: ReplyPlace, assistant: AssistantThreads
    ) -> None:
        self._client = client
        self.place = place
        self._assistant = assistant
        self.posted: list[MessageRef] = []  # for recovery after a crash

    @property
    def limits(self) -> PlatformLimits:
        return SLACK_LIMITS

    @property
    def bucket(self) -> str:
        return self.place.channel

    async def post(self, text: str) -> MessageRef:
        with translated(self.bucket):
            response = await self._client.chat_postMessage(
                channel=self.place.channel, thread_ts=self.place.thread_ts, text=text
            )
        ref = MessageRef(self.place.channel, str(response["ts"]))
        self.posted.append(ref)
        return ref

    async def edit(self, ref: MessageRef, text: str) -> None:
        with translated(self.bucket, workspace_wide=True):
            await self._client.chat_update(channel=ref.channel, ts=ref.id, text=text)

    async def delete(self, ref: MessageRef) -> None:
        with translated(self.bucket, workspace_wide=True):
            await self._client.chat_delete(channel=ref.channel, ts=ref.id)

    async def upload(self, name: str, data: bytes, mime: str) -> MessageRef:
        """Share a file in the thread (files_upload_v2: get URL, send bytes, complete).

        The reference names the file: the v2 flow does not return the message ts.
        """
        with translated(self.bucket):
            response = await self._client.files_upload_v2(
                channel=self.place.channel,
                thread_ts=self.place.thread_ts,
                content=data,
                filename=name,
                title=name,
            )
        uploaded = response.get("file") or {}
        return MessageRef(self.place.channel, str(uploaded.get("id", "")))

    async def typing(self) -> None:
        """Slack has no typing indicator for bots; assistant threads have a status."""
        if self.place.assistant and self.place.thread_ts is not None:
            await self._assistant.thinking(self.place.channel, self.place.thread_ts)
