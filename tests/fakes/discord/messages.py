"""Request payload → message fields, shared by channel, interaction and webhook routes.

Create Message / Edit Message: https://discord.com/developers/docs/resources/message
"""

from __future__ import annotations

import mimetypes
from typing import Any

from .limits import FormErrors, check_message
from .model import Attachment, Channel, Message
from .payloads import REPLY
from .state import World
from .wire import Body

# Flags a bot may set on a message; EPHEMERAL only through interactions.
# https://discord.com/developers/docs/resources/message#message-object-message-flags
SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12
CHANNEL_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS


def _new_attachments(world: World, channel: Channel, body: Body) -> list[Attachment]:
    described = {
        int(a["id"]): a for a in body.payload.get("attachments") or [] if _is_index(a.get("id"))
    }
    found = []
    for upload in sorted(body.uploads, key=lambda u: u.index):
        meta = described.get(upload.index, {})
        filename = meta.get("filename") or upload.filename
        found.append(
            world.add_attachment(
                channel.id,
                filename,
                upload.data,
                _mime(filename, upload.content_type),
                meta.get("description"),
            )
        )
    return found


def _mime(filename: str, declared: str) -> str:
    """discord.py labels every upload application/octet-stream; Discord derives
    the attachment's content_type from the file name instead."""
    if declared and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def _is_index(value: object) -> bool:
    """New uploads are referenced by their small `files[n]` index, not a snowflake."""
    try:
        return int(str(value)) < 1_000_000
    except ValueError:
        return False


def _check_reference(world: World, errors: FormErrors, payload: dict[str, Any]) -> int | None:
    reference = payload.get("message_reference")
    if not reference or reference.get("message_id") is None:
        return None
    target = world.messages.get(int(reference["message_id"]))
    if target is None or target.deleted:
        if reference.get("fail_if_not_exists", True):
            errors.add(
                ["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
            )
        return None
    return target.id


def create_fields(
    world: World, channel: Channel, body: Body, allowed_flags: int = CHANNEL_FLAGS
) -> tuple[str, dict[str, Any]]:
    """Validate a create payload; return (content, extra Message fields)."""
    payload = body.payload
    errors = FormErrors()
    check_message(errors, payload)
    reference_id = _check_reference(world, errors, payload)
    errors.raise_if_any()
    extra: dict[str, Any] = {
        "embeds": list(payload.get("embeds") or []),
        "components": list(payload.get("components") or []),
        "attachments": _new_attachments(world, channel, body),
        "flags": int(payload.get("flags") or 0) & allowed_flags,
    }
    if reference_id is not None:
        extra["reference_id"] = reference_id
        extra["type"] = REPLY
    return str(payload.get("content") or ""), extra


def edit_changes(world: World, message: Message, body: Body) -> dict[str, Any]:
    """Validate an edit payload; return the fields that change."""
    payload = body.payload
    errors = FormErrors()
    check_message(errors, payload)
    errors.raise_if_any()
    changes: dict[str, Any] = {}
    if "content" in payload:
        changes["content"] = str(payload["content"] or "")
    for key in ("embeds", "components"):
        if key in payload:
            changes[key] = list(payload[key] or [])
    channel = world.channels[message.channel_id]
    new = _new_attachments(world, channel, body)
    if "attachments" in payload:
        keep = {int(a["id"]) for a in payload["attachments"] or [] if not _is_index(a.get("id"))}
        changes["attachments"] = [a for a in message.attachments if a.id in keep] + new
    elif new:
        changes["attachments"] = message.attachments + new
    if "flags" in payload:
        kept = message.flags & ~CHANNEL_FLAGS
        changes["flags"] = kept | (int(payload["flags"] or 0) & SUPPRESS_EMBEDS)
    return changes
