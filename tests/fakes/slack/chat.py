"""chat.postMessage, chat.update, chat.delete, chat.postEphemeral.

Error codes are those of the method reference pages (https://docs.slack.dev/reference/
methods/chat.postMessage, .../chat.update, .../chat.delete, .../chat.postEphemeral):
``channel_not_found``, ``not_in_channel``, ``no_text``, ``msg_too_long``,
``invalid_blocks``, ``markdown_text_conflict`` ("Markdown text cannot be used in
conjunction with blocks or text argument"), ``message_not_found``,
``cant_update_message``, ``cant_delete_message``, ``user_not_found``.
``streaming_state_conflict`` is what chat.update answers for a message that is still
streaming (observed by integrators against the live API; not in the reference).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .limits import SlackLimits
from .state import Channel, Json, StoredMessage, Workspace
from .web_api import ApiCall, ApiError, Handler

__all__ = ["ChatMethods", "Content", "check_blocks", "read_content"]


@dataclass(frozen=True, slots=True)
class Content:
    text: str | None
    markdown: str | None
    blocks: list[Json]

    @property
    def display_text(self) -> str:
        return self.text if self.text is not None else (self.markdown or "")


def check_blocks(blocks: Any, limits: SlackLimits) -> list[Json]:
    """Block Kit checks Slack makes before posting: a list of typed objects, at most
    50 blocks, and at most 12,000 characters across ``markdown`` blocks."""
    if blocks is None:
        return []
    if not isinstance(blocks, list) or not all(isinstance(b, dict) and "type" in b for b in blocks):
        raise ApiError("invalid_blocks", response_metadata={"messages": ["[ERROR] invalid blocks"]})
    if len(blocks) > limits.blocks_max:
        raise ApiError(
            "invalid_blocks",
            response_metadata={
                "messages": [f"[ERROR] no more than {limits.blocks_max} items allowed"]
            },
        )
    markdown_chars = sum(len(str(b.get("text", ""))) for b in blocks if b["type"] == "markdown")
    if markdown_chars > limits.markdown_max_chars:
        raise ApiError(
            "invalid_blocks",
            response_metadata={"messages": ["[ERROR] markdown blocks exceed 12000 characters"]},
        )
    return blocks


def read_content(call: ApiCall, limits: SlackLimits) -> Content:
    """``text`` / ``markdown_text`` / ``blocks`` with Slack's length and conflict rules."""
    text = call.optional("text")
    markdown = call.optional("markdown_text")
    blocks = check_blocks(call.structured("blocks"), limits)
    attachments = call.structured("attachments")
    if markdown is not None and (text is not None or blocks):
        raise ApiError("markdown_text_conflict")
    if text is None and markdown is None and not blocks and not attachments:
        raise ApiError("no_text")
    if text is not None and len(text) > limits.text_max_chars:
        raise ApiError("msg_too_long")
    if markdown is not None and len(markdown) > limits.markdown_max_chars:
        raise ApiError("msg_too_long")
    return Content(text, markdown, blocks)


def require_channel(ws: Workspace, call: ApiCall, name: str = "channel") -> Channel:
    channel = ws.channels.get(call.text(name, required=True, error="channel_not_found"))
    if channel is None:
        raise ApiError("channel_not_found")
    if not channel.is_member:
        raise ApiError("not_in_channel")
    return channel


def require_own_message(
    call: ApiCall, ws: Workspace, channel: str, ts: str, refusal: str
) -> StoredMessage:
    """The message at ``ts``, which the calling token's bot posted."""
    message = ws.find_message(channel, ts)
    if message is None:
        raise ApiError("message_not_found")
    if message.user != ws.bot_for(call.token).id:
        raise ApiError(refusal)
    return message


class ChatMethods:
    def __init__(self, ws: Workspace):
        self._ws = ws

    def routes(self) -> dict[str, Handler]:
        return {
            "chat.postMessage": self.post_message,
            "chat.update": self.update,
            "chat.delete": self.delete,
            "chat.postEphemeral": self.post_ephemeral,
        }

    async def post_message(self, call: ApiCall) -> Json:
        ws = self._ws
        channel = require_channel(ws, call)
        content = read_content(call, ws.limits)
        message = ws.add_message(
            StoredMessage(
                channel=channel.id,
                ts=ws.next_ts(),
                user=ws.bot_for(call.token).id,
                bot_id=ws.bot_for(call.token).bot_id,
                text=content.display_text,
                markdown=content.markdown,
                blocks=content.blocks,
                thread_ts=call.optional("thread_ts"),
                metadata=call.structured("metadata"),
            )
        )
        return {"channel": channel.id, "ts": message.ts, "message": ws.message_json(message)}

    async def update(self, call: ApiCall) -> Json:
        ws = self._ws
        channel = require_channel(ws, call)
        ts = call.text("ts", required=True, error="message_not_found")
        message = require_own_message(call, ws, channel.id, ts, "cant_update_message")
        if ws.stream_state(message) == "streaming":
            raise ApiError("streaming_state_conflict")
        content = read_content(call, ws.limits)
        message.text = content.display_text
        message.markdown = content.markdown
        if content.blocks or call.optional("blocks") is not None:
            message.blocks = content.blocks
        message.edits += 1
        message.edited_ts = ws.next_ts()
        return {
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": ws.message_json(message),
        }

    async def delete(self, call: ApiCall) -> Json:
        ws = self._ws
        channel = require_channel(ws, call)
        ts = call.text("ts", required=True, error="message_not_found")
        message = require_own_message(call, ws, channel.id, ts, "cant_delete_message")
        message.deleted = True
        return {"channel": channel.id, "ts": message.ts}

    async def post_ephemeral(self, call: ApiCall) -> Json:
        ws = self._ws
        channel = require_channel(ws, call)
        user = call.text("user", required=True, error="user_not_found")
        if user not in ws.users:
            raise ApiError("user_not_found")
        content = read_content(call, ws.limits)
        ts = ws.next_ts()
        ws.ephemerals.append(
            {
                "channel": channel.id,
                "user": user,
                "ts": ts,
                "text": content.display_text,
                "markdown": content.markdown,
                "blocks": content.blocks,
                "thread_ts": call.optional("thread_ts"),
            }
        )
        return {"message_ts": ts}
