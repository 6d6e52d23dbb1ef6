"""Stop while an answer streams, Regenerate once it is done: Block Kit buttons.

Slack's native streams cannot carry blocks while they stream (chat.startStream
and chat.appendStream take no ``blocks``; chat.stopStream renders blocks only at
the bottom of the finished message, https://docs.slack.dev/reference/methods/chat.stopStream),
and a message with blocks shows its blocks instead of its ``text``, which the
chat.update fallback streams into. So the buttons live in a small message of
their own in the thread, the same on both paths: Stop is posted as the answer
starts, and when the answer ends it is replaced by Regenerate under the answer.

The state is in the button's ``value`` (Block Kit allows 2,000 characters,
https://docs.slack.dev/reference/block-kit/block-elements/button-element), so a
click works after a restart, as Discord's dynamic items do:

- Stop: the request (question) id; the running answer is found by it.
- Regenerate: the conversation's key and the stored answer turn, as JSON.

Clicks arrive as ``block_actions`` payloads, through Socket Mode or HTTP
interactivity alike; Bolt routes them by ``action_id``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from adapters.slack.translate import PLATFORM
from bot import wording
from bot.domain import ThreadKey

__all__ = [
    "REGENERATE_ACTION",
    "STOP_ACTION",
    "Click",
    "click_of",
    "regenerate_blocks",
    "regenerate_target",
    "stop_blocks",
]

STOP_ACTION = "threadline_stop"
REGENERATE_ACTION = "threadline_regenerate"
STOP_LABEL = f"{wording.STOP_EMOJI} {wording.STOP_LABEL}"
REGENERATE_LABEL = f"{wording.REGENERATE_EMOJI} {wording.REGENERATE_LABEL}"

Json = dict[str, Any]


def _button(action_id: str, label: str, value: str) -> list[Json]:
    button = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": value,
    }
    return [{"type": "actions", "block_id": "threadline", "elements": [button]}]


def stop_blocks(request_id: str) -> list[Json]:
    return _button(STOP_ACTION, STOP_LABEL, request_id)


def regenerate_blocks(key: ThreadKey, turn_id: int) -> list[Json]:
    value = json.dumps([key.workspace, key.channel, key.thread, turn_id])
    return _button(REGENERATE_ACTION, REGENERATE_LABEL, value)


def regenerate_target(value: str) -> tuple[ThreadKey, int] | None:
    """The conversation and answer turn a Regenerate button names; None if malformed."""
    try:
        workspace, channel, thread, turn_id = json.loads(value)
    except (ValueError, TypeError):
        return None
    if not all(isinstance(part, str) for part in (workspace, channel, thread)):
        return None
    if not isinstance(turn_id, int):
        return None
    return ThreadKey(PLATFORM, workspace, channel, thread), turn_id


@dataclass(frozen=True, slots=True)
class Click:
    """One button click (a ``block_actions`` payload,
    https://docs.slack.dev/reference/interaction-payloads/block_actions-payload)."""

    action_id: str
    value: str
    user_id: str
    team_id: str
    channel_id: str
    message_ts: str
    thread_ts: str | None
    trigger_id: str


def click_of(body: Json) -> Click | None:
    actions = body.get("actions") or []
    if not actions or not isinstance(actions[0], dict):
        return None
    action = actions[0]
    container = body.get("container") or {}
    user = body.get("user") or {}
    team = body.get("team") or {}
    channel = body.get("channel") or {}
    thread = container.get("thread_ts") or (body.get("message") or {}).get("thread_ts")
    return Click(
        action_id=str(action.get("action_id", "")),
        value=str(action.get("value", "")),
        user_id=str(user.get("id", "")),
        team_id=str(team.get("id") or user.get("team_id", "")),
        channel_id=str(channel.get("id") or container.get("channel_id", "")),
        message_ts=str(container.get("message_ts", "")),
        thread_ts=str(thread) if thread else None,
        trigger_id=str(body.get("trigger_id", "")),
    )
