"""Turns as rows: the column list, and encoding and decoding, shared by every SQL store.

SQLite and PostgreSQL keep the same columns (storage/schema.py), so one codec
serves both; statements use ``?`` marks (``storage.postgres`` numbers them).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from bot.domain import (
    ContentPart,
    Delivery,
    FilePart,
    ImagePart,
    Role,
    TextPart,
    ThreadKey,
    Turn,
    TurnStatus,
    TurnUpdate,
    Usage,
)

Row = tuple[Any, ...]

# Column order is the contract between these statements and ``turn_from``.
TURN_COLUMNS = (
    "id, role, text, author_id, author_name, requester_id, reply_to, parts, platform_message_id, "
    "reply_ids, status, model, prompt_tokens, completion_tokens, trace_id, tokens, "
    "created_at, updated_at, delivery, usage_estimated"
)
T_TURN_COLUMNS = ", ".join(f"t.{name.strip()}" for name in TURN_COLUMNS.split(","))
TURN_WIDTH = TURN_COLUMNS.count(",") + 1
KEY_COLUMNS = "c.platform, c.workspace, c.channel, c.thread"
KEY_MATCH = "platform = ? AND workspace = ? AND channel = ? AND thread = ?"
_ROLES = {role.value: role for role in Role}
_STATUSES = {status.value: status for status in TurnStatus}


def key_params(key: ThreadKey) -> tuple[str, str, str, str]:
    return (key.platform, key.workspace, key.channel, key.thread)


def key_from(row: Row) -> ThreadKey:
    """The ThreadKey in the first four columns (``KEY_COLUMNS``) of ``row``."""
    platform, workspace, channel, thread = row[:4]
    return ThreadKey(platform=platform, workspace=workspace, channel=channel, thread=thread)


def turn_values(conversation_id: int, platform: str, turn: Turn) -> tuple[object, ...]:
    """The ``INSERT_TURN`` parameters for ``turn``."""
    usage = turn.usage
    return (
        conversation_id,
        platform,
        turn.role.value,
        turn.text,
        turn.author_id,
        turn.author_name,
        turn.requester_id,
        turn.reply_to,
        _encode_parts(turn.parts),
        turn.platform_message_id,
        _encode_ids(turn.reply_message_ids),
        turn.status.value,
        turn.model,
        None if usage is None else usage.prompt_tokens,
        None if usage is None else usage.completion_tokens,
        turn.trace_id,
        turn.tokens,
        turn.created_at,
        turn.updated_at,
        None if turn.delivery is None else turn.delivery.value,
        int(usage is not None and usage.estimated),
    )


def update_assignments(update: TurnUpdate) -> tuple[str, list[object]]:
    """The SET clause and its parameters for the non-``None`` fields of ``update``."""
    columns: list[str] = []
    params: list[object] = []

    def assign(column: str, value: object) -> None:
        columns.append(f"{column} = ?")
        params.append(value)

    if update.text is not None:
        assign("text", update.text)
    if update.status is not None:
        assign("status", update.status.value)
    if update.model is not None:
        assign("model", update.model)
    if update.usage is not None:
        assign("prompt_tokens", update.usage.prompt_tokens)
        assign("completion_tokens", update.usage.completion_tokens)
        assign("usage_estimated", int(update.usage.estimated))
    if update.trace_id is not None:
        assign("trace_id", update.trace_id)
    if update.tokens is not None:
        assign("tokens", update.tokens)
    if update.reply_message_ids is not None:
        assign("reply_ids", _encode_ids(update.reply_message_ids))
    if update.parts is not None:
        assign("parts", _encode_parts(update.parts))
    if update.delivery is not None:
        assign("delivery", update.delivery.value)
    assign("updated_at", time.time())
    return ", ".join(columns), params


def turn_from(row: Sequence[Any]) -> Turn:
    """Decode a row in ``TURN_COLUMNS`` order."""
    assert len(row) == TURN_WIDTH
    (
        turn_id,
        role,
        text,
        author_id,
        author_name,
        requester_id,
        reply_to,
        parts,
        platform_message_id,
        reply_ids,
        status,
        model,
        prompt_tokens,
        completion_tokens,
        trace_id,
        tokens,
        created_at,
        updated_at,
        delivery,
        usage_estimated,
    ) = row
    no_usage = prompt_tokens is None and completion_tokens is None
    usage = None
    if not no_usage:
        prompt, completion = prompt_tokens or 0, completion_tokens or 0
        usage = Usage(prompt, completion, (prompt + completion) if usage_estimated else 0)
    return Turn(
        role=_ROLES[role],
        text=text,
        author_id=author_id,
        author_name=author_name,
        requester_id=requester_id,
        reply_to=reply_to,
        parts=_decode_parts(parts) if parts else (),
        platform_message_id=platform_message_id,
        reply_message_ids=tuple(orjson.loads(reply_ids)) if reply_ids else (),
        status=_STATUSES[status],
        model=model,
        usage=usage,
        trace_id=trace_id,
        tokens=tokens,
        created_at=created_at,
        updated_at=updated_at,
        delivery=None if delivery is None else Delivery(delivery),
        id=turn_id,
    )


def _encode_ids(message_ids: tuple[str, ...]) -> str | None:
    return orjson.dumps(list(message_ids)).decode() if message_ids else None


def _encode_parts(parts: tuple[ContentPart, ...]) -> str | None:
    """Parts as the API's JSON shape, e.g. ``[{"type": "image_url", "url": ...}]``."""
    if not parts:
        return None
    return orjson.dumps([_part_json(part) for part in parts]).decode()


def _part_json(part: ContentPart) -> dict[str, str]:
    if isinstance(part, TextPart):
        return {"type": part.type, "text": part.text}
    return {"type": part.type, "url": part.url}


def _decode_parts(encoded: str) -> tuple[ContentPart, ...]:
    return tuple(_part_from(item) for item in orjson.loads(encoded))


def _part_from(item: dict[str, str]) -> ContentPart:
    match item["type"]:
        case "text":
            return TextPart(item["text"])
        case "image_url":
            return ImagePart(item["url"])
        case "file_url":
            return FilePart(item["url"])
        case other:
            raise ValueError(f"unknown content part type {other!r} in the database")
