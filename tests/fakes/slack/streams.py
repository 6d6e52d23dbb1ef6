"""chat.startStream, chat.appendStream, chat.stopStream (Slack's native streaming).

From the method reference (https://docs.slack.dev/reference/methods/chat.startStream
and siblings) and slack_sdk/web/async_chat_stream.py:

- startStream takes ``channel``, ``thread_ts``, optional ``markdown_text`` (≤ 12,000
  chars) or ``chunks``; ``recipient_user_id`` and ``recipient_team_id`` are "Required
  when streaming to channels" — missing ones answer ``missing_recipient_user_id`` /
  ``missing_recipient_team_id`` (the codes integrators report; DMs may omit them).
- slack_sdk's ``chat_stream()`` helper sends everything as ``chunks``
  (``{"type": "markdown_text", "text": …}``), never as ``markdown_text``.
- appendStream / stopStream take ``channel`` + ``ts``. A stream that was stopped, or
  that is older than ``SlackLimits.stream_max_age`` (~5 min live; appends do not extend
  it), answers ``message_not_in_streaming_state``.
- Chunks must be objects of a known ``type`` or the call answers ``invalid_chunks``.
"""

from __future__ import annotations

from typing import Any

from .chat import check_blocks, require_channel
from .state import Json, StoredMessage, StreamInfo, Workspace
from .web_api import ApiCall, ApiError, Handler

__all__ = ["StreamMethods"]

CHUNK_TYPES = frozenset({"markdown_text", "task_update", "plan_update", "blocks"})


class StreamMethods:
    def __init__(self, ws: Workspace):
        self._ws = ws

    def routes(self) -> dict[str, Handler]:
        return {
            "chat.startStream": self.start,
            "chat.appendStream": self.append,
            "chat.stopStream": self.stop,
        }

    async def start(self, call: ApiCall) -> Json:
        ws = self._ws
        channel = require_channel(ws, call)
        recipient_user = call.optional("recipient_user_id")
        recipient_team = call.optional("recipient_team_id")
        if channel.kind != "im":
            if recipient_user is None:
                raise ApiError("missing_recipient_user_id")
            if recipient_team is None:
                raise ApiError("missing_recipient_team_id")
        text, chunks = self._read_delta(call, required=False)
        message = ws.add_message(
            StoredMessage(
                channel=channel.id,
                ts=ws.next_ts(),
                user=ws.bot_for(call.token).id,
                bot_id=ws.bot_for(call.token).bot_id,
                text=text,
                markdown=text,
                thread_ts=call.optional("thread_ts"),
                chunks=chunks,
                stream=StreamInfo(ws.clock(), recipient_user, recipient_team),
            )
        )
        return {"channel": channel.id, "ts": message.ts}

    async def append(self, call: ApiCall) -> Json:
        message = self._streaming_message(call)
        text, chunks = self._read_delta(call, required=True)
        self._apply(message, text, chunks)
        assert message.stream is not None
        message.stream.appends += 1
        return {"channel": message.channel, "ts": message.ts}

    async def stop(self, call: ApiCall) -> Json:
        message = self._streaming_message(call)
        text, chunks = self._read_delta(call, required=False)
        self._apply(message, text, chunks)
        blocks = check_blocks(call.structured("blocks"), self._ws.limits)
        if blocks:
            message.blocks = blocks
        metadata = call.structured("metadata")
        if metadata:
            message.metadata = metadata
        assert message.stream is not None
        message.stream.stopped = True
        return {
            "channel": message.channel,
            "ts": message.ts,
            "message": self._ws.message_json(message),
        }

    def _streaming_message(self, call: ApiCall) -> StoredMessage:
        ws = self._ws
        channel = require_channel(ws, call)
        ts = call.text("ts", required=True, error="message_not_found")
        message = ws.find_message(channel.id, ts)
        if message is None:
            raise ApiError("message_not_found")
        if ws.stream_state(message) != "streaming":
            raise ApiError("message_not_in_streaming_state")
        return message

    def _read_delta(self, call: ApiCall, *, required: bool) -> tuple[str, list[Json]]:
        """The markdown to append and the chunks, with Slack's length and shape checks."""
        limit = self._ws.limits.markdown_max_chars
        markdown = call.optional("markdown_text")
        chunks: Any = call.structured("chunks")
        if chunks is None:
            chunks = []
        if not isinstance(chunks, list) or not all(
            isinstance(c, dict) and c.get("type") in CHUNK_TYPES for c in chunks
        ):
            raise ApiError("invalid_chunks")
        if required and markdown is None and not chunks:
            raise ApiError("no_text")
        pieces = [markdown] if markdown is not None else []
        pieces += [str(c.get("text", "")) for c in chunks if c["type"] == "markdown_text"]
        if any(len(piece) > limit for piece in pieces):
            raise ApiError("msg_too_long")
        return "".join(pieces), chunks

    def _apply(self, message: StoredMessage, text: str, chunks: list[Json]) -> None:
        message.markdown = (message.markdown or "") + text
        message.text = message.markdown
        message.chunks.extend(chunks)
