"""The fake's entities: plain records the tests read and the server mutates.

Payload shapes live in payloads.py; these records carry only what the fake
needs to answer like Discord and what a test wants to assert on.
"""

from __future__ import annotations

import mimetypes
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# Channel types: https://discord.com/developers/docs/resources/channel#channel-object-channel-types
GUILD_TEXT = 0
DM = 1
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
THREAD_TYPES = (PUBLIC_THREAD, PRIVATE_THREAD)

# Message flags: https://discord.com/developers/docs/resources/message#message-object-message-flags
EPHEMERAL = 1 << 6
LOADING = 1 << 7

# Snowflakes count milliseconds from the Discord epoch (2015-01-01T00:00:00Z).
# https://discord.com/developers/docs/reference#snowflakes
DISCORD_EPOCH_MS = 1_420_070_400_000


class FakeClock:
    """Wall time plus an offset a test can advance.

    Expiry checks (signed CDN URLs, the 3 s interaction deadline, 15 min tokens)
    read this clock, so a test jumps past a deadline instead of sleeping.
    Rate-limit windows use the real monotonic clock, because discord.py really
    sleeps for the Reset-After it is told.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class Snowflakes:
    """Strictly increasing snowflake ids whose timestamp is the fake clock's."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._last = 0
        self._pinned = 0

    def next(self) -> int:
        ms = int(self._clock.time() * 1000) - DISCORD_EPOCH_MS
        candidate = (ms << 22) | (1 << 17)
        self._last = max(candidate, self._last + 1)
        return self._last

    def on_shard(self, shard_id: int, shard_count: int) -> int:
        """An id from a minute ago whose guild falls on ``shard_id`` of ``shard_count``
        (``(id >> 22) % shard_count``); older than every id ``next`` gives."""
        ms = int(self._clock.time() * 1000) - DISCORD_EPOCH_MS - 60_000
        ms -= (ms - shard_id) % shard_count
        self._pinned += 1
        return (ms << 22) | (1 << 17) | self._pinned


@dataclass
class User:
    id: int
    username: str
    bot: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "bot": self.bot}


@dataclass
class Channel:
    id: int
    type: int
    name: str
    guild_id: int | None = None
    parent_id: int | None = None
    position: int = 0
    owner_id: int | None = None  # threads
    recipient: User | None = None  # DMs
    created_at: float = 0.0
    message_count: int = 0
    auto_archive_duration: int = 1440
    member_ids: set[int] = field(default_factory=set)  # thread members

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "guild_id": self.guild_id,
            "parent_id": self.parent_id,
        }


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    everyone_role_id: int
    bot_role_id: int
    joined_at: float
    channel_ids: list[int] = field(default_factory=list)


@dataclass
class FakeFile:
    """A file a test injects (message attachment, attachment option)."""

    filename: str
    data: bytes
    content_type: str = ""

    def mime(self) -> str:
        guessed = mimetypes.guess_type(self.filename)[0]
        return self.content_type or guessed or "application/octet-stream"


@dataclass
class Attachment:
    id: int
    channel_id: int
    filename: str
    content_type: str
    data: bytes
    description: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "filename": self.filename,
            "size": self.size,
            "content_type": self.content_type,
        }


class Button(NamedTuple):
    """A button component (type 2) as a test sees it."""

    custom_id: str | None
    label: str | None
    style: int
    url: str | None
    disabled: bool


@dataclass
class Message:
    id: int
    channel_id: int
    guild_id: int | None
    author: User
    content: str
    created_at: float
    embeds: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[User] = field(default_factory=list)
    mention_everyone: bool = False
    reference_id: int | None = None
    type: int = 0
    flags: int = 0
    webhook_id: int | None = None
    interaction_id: int | None = None
    thread_id: int | None = None
    reactions: list[str] = field(default_factory=list)
    edit_count: int = 0
    edited_at: float | None = None
    deleted: bool = False
    history: list[str] = field(default_factory=list)  # content after create and each edit

    @property
    def buttons(self) -> list[Button]:
        found: list[Button] = []
        for row in self.components:
            for item in row.get("components", []):
                if item.get("type") == 2:
                    found.append(
                        Button(
                            item.get("custom_id"),
                            item.get("label"),
                            int(item.get("style", 1)),
                            item.get("url"),
                            bool(item.get("disabled", False)),
                        )
                    )
        return found

    @property
    def is_empty(self) -> bool:
        return not (self.content or self.embeds or self.attachments or self.components)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel_id": self.channel_id,
            "guild_id": self.guild_id,
            "author": self.author.as_dict(),
            "content": self.content,
            "embeds": self.embeds,
            "attachments": [a.as_dict() for a in self.attachments],
            "components": self.components,
            "buttons": [b._asdict() for b in self.buttons],
            "mentions": [u.id for u in self.mentions],
            "reference_id": self.reference_id,
            "type": self.type,
            "flags": self.flags,
            "interaction_id": self.interaction_id,
            "thread_id": self.thread_id,
            "reactions": self.reactions,
            "edit_count": self.edit_count,
            "history": self.history,
            "deleted": self.deleted,
            "created_at": self.created_at,
            "edited_at": self.edited_at,
        }


@dataclass
class Command:
    """An application command as registered by a bulk overwrite (PUT)."""

    id: int
    application_id: int
    guild_id: int | None
    name: str
    type: int
    raw: dict[str, Any]

    def option(self, path: list[str], name: str) -> dict[str, Any] | None:
        options: list[dict[str, Any]] = self.raw.get("options") or []
        for sub in path:
            options = next((o.get("options") or [] for o in options if o["name"] == sub), [])
        return next((o for o in options if o["name"] == name), None)


@dataclass
class Interaction:
    """An INTERACTION_CREATE the fake sent, and what the bot did with it."""

    id: int
    token: str
    type: int  # 2 application command, 3 message component
    channel_id: int
    guild_id: int | None
    user: User
    created_at: float
    data: dict[str, Any]
    message_id: int | None = None  # the message a component belongs to
    response_type: int | None = None  # callback type the bot answered with
    responded_at: float | None = None
    response_data: dict[str, Any] | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    rejected_callbacks: list[int] = field(default_factory=list)  # status codes

    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "channel_id": self.channel_id,
            "user": self.user.as_dict(),
            "data": self.data,
            "message_id": self.message_id,
            "response_type": self.response_type,
            "response_data": self.response_data,
            "original_message_id": self.original_message_id,
            "followup_ids": self.followup_ids,
            "rejected_callbacks": self.rejected_callbacks,
        }
