"""The fake's world: who exists, what was said, what was asked — and change events.

`World` holds every record and the rules for changing them (no I/O). Each
change is appended to an event log and wakes `wait_for`, so tests wait on
outcomes instead of sleeping.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .config import FakeConfig
from .limits import (
    CANNOT_EDIT_OTHERS_MESSAGE,
    CANNOT_SEND_EMPTY_MESSAGE,
    UNKNOWN_CHANNEL,
    UNKNOWN_MESSAGE,
    ApiError,
)
from .model import (
    DM,
    GUILD_TEXT,
    Attachment,
    Channel,
    Command,
    FakeClock,
    Guild,
    Interaction,
    Message,
    Snowflakes,
    User,
)

T = TypeVar("T")

_MENTION = re.compile(r"<@!?(\d+)>")
_EVENT_LOG_CAP = 10_000


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request the fake answered (REST and CDN)."""

    method: str
    route: str  # e.g. "PATCH /channels/{channel_id}/messages/{message_id}"
    path: str
    status: int
    at: float  # loop time (monotonic) when answered
    scope: str | None = None  # rate-limit scope of a 429

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "route": self.route,
            "path": self.path,
            "status": self.status,
            "at": self.at,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class Stats:
    """Counters a test asserts on; `rate_limited` is keyed by X-RateLimit-Scope."""

    requests: int
    by_status: dict[int, int]
    rate_limited: dict[str, int]
    counts: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_status": {str(k): v for k, v in self.by_status.items()},
            "rate_limited": self.rate_limited,
            "counts": self.counts,
        }


@dataclass
class World:
    """All state of one fake Discord."""

    config: FakeConfig
    clock: FakeClock = field(default_factory=FakeClock)
    base_url: str = "http://127.0.0.1:0"

    def __post_init__(self) -> None:
        self.ids = Snowflakes(self.clock)
        self.application_id = self.ids.next()
        self.bot = User(self.application_id, self.config.bot_name, bot=True)
        self.users: dict[int, User] = {self.bot.id: self.bot}
        self.humans: list[User] = [self.add_user(name) for name in self.config.humans]
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.attachments: dict[int, Attachment] = {}
        self.interactions: dict[int, Interaction] = {}
        self.commands: dict[int | None, list[Command]] = {}
        self.requests: list[RequestRecord] = []
        self.counts: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self.events: list[dict[str, Any]] = []
        self._event_seq = 0
        self._waiters: set[asyncio.Future[None]] = set()
        for spec in self.config.guilds:
            pinned = (
                None if spec.shard is None else self.ids.on_shard(spec.shard, self.config.shards)
            )
            self._add_guild(spec.name, [c.name for c in spec.channels], pinned)

    # -- setup -------------------------------------------------------------

    def add_user(self, username: str) -> User:
        user = User(self.ids.next(), username)
        self.users[user.id] = user
        return user

    def _add_guild(self, name: str, channel_names: list[str], id: int | None = None) -> None:
        owner = self.humans[0] if self.humans else self.bot
        guild = Guild(
            id=self.ids.next() if id is None else id,
            name=name,
            owner_id=owner.id,
            everyone_role_id=0,
            bot_role_id=self.ids.next(),
            joined_at=self.clock.time(),
        )
        guild.everyone_role_id = guild.id  # @everyone's id is the guild's id
        self.guilds[guild.id] = guild
        for position, channel_name in enumerate(channel_names):
            channel = Channel(
                self.ids.next(), GUILD_TEXT, channel_name, guild.id, position=position
            )
            self._add_channel(channel)

    def _add_channel(self, channel: Channel) -> None:
        channel.created_at = self.clock.time()
        self.channels[channel.id] = channel
        if channel.guild_id is not None:
            self.guilds[channel.guild_id].channel_ids.append(channel.id)

    # -- lookups -----------------------------------------------------------

    def channel(self, channel_id: int | str) -> Channel:
        channel = self.channels.get(int(channel_id))
        if channel is None:
            raise ApiError(404, UNKNOWN_CHANNEL, "Unknown Channel")
        return channel

    def message(self, channel_id: int | str, message_id: int | str) -> Message:
        message = self.messages.get(int(message_id))
        if message is None or message.deleted or message.channel_id != int(channel_id):
            raise ApiError(404, UNKNOWN_MESSAGE, "Unknown Message")
        return message

    def channel_named(self, name: str) -> Channel:
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        raise KeyError(name)

    def user(self, ref: User | int | str | None) -> User:
        """A user by record, id or username; None means the first human."""
        if isinstance(ref, User):
            return ref
        if ref is None:
            return self.humans[0]
        if isinstance(ref, int) or ref.isdigit():
            return self.users[int(ref)]
        return next(u for u in self.users.values() if u.username == ref)

    def channel_messages(self, channel_id: int, include_deleted: bool = False) -> list[Message]:
        return [
            m
            for m in self.messages.values()
            if m.channel_id == channel_id and (include_deleted or not m.deleted)
        ]

    def mentions_in(self, content: str) -> list[User]:
        found = [self.users[int(i)] for i in _MENTION.findall(content) if int(i) in self.users]
        return list({u.id: u for u in found}.values())

    # -- changes -----------------------------------------------------------

    def open_dm(self, user: User) -> Channel:
        for channel in self.channels.values():
            if channel.type == DM and channel.recipient is user:
                return channel
        channel = Channel(self.ids.next(), DM, "", recipient=user)
        self._add_channel(channel)
        return channel

    def create_thread(
        self,
        parent: Channel,
        name: str,
        owner: User,
        thread_type: int,
        thread_id: int | None = None,
        auto_archive_duration: int = 1440,
    ) -> Channel:
        thread = Channel(
            thread_id or self.ids.next(),
            thread_type,
            name,
            parent.guild_id,
            parent_id=parent.id,
            owner_id=owner.id,
            auto_archive_duration=auto_archive_duration,
            member_ids={owner.id},
        )
        self._add_channel(thread)
        self.note("thread_create", thread.as_dict())
        return thread

    def create_message(self, channel: Channel, author: User, content: str, **extra: Any) -> Message:
        message = Message(
            id=self.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=author,
            content=content,
            created_at=self.clock.time(),
            mentions=self.mentions_in(content),
            **extra,
        )
        if message.is_empty and not message.flags:
            raise ApiError(400, CANNOT_SEND_EMPTY_MESSAGE, "Cannot send an empty message")
        message.history.append(content)
        self.messages[message.id] = message
        channel.message_count += 1
        self.counts["messages_created"] += 1
        self.note("message_create", message.as_dict())
        return message

    def edit_message(self, message: Message, by: User, changes: dict[str, Any]) -> Message:
        if message.author is not by:
            raise ApiError(
                403, CANNOT_EDIT_OTHERS_MESSAGE, "Cannot edit a message authored by another user"
            )
        before = {key: getattr(message, key) for key in changes}
        for key, value in changes.items():
            setattr(message, key, value)
        if message.is_empty:
            for key, value in before.items():
                setattr(message, key, value)
            raise ApiError(400, CANNOT_SEND_EMPTY_MESSAGE, "Cannot send an empty message")
        if "content" in changes:
            message.mentions = self.mentions_in(message.content)
        message.edit_count += 1
        message.edited_at = self.clock.time()
        message.history.append(message.content)
        self.counts["messages_edited"] += 1
        self.note("message_update", message.as_dict())
        return message

    def delete_message(self, message: Message) -> None:
        message.deleted = True
        self.counts["messages_deleted"] += 1
        self.note("message_delete", {"id": message.id, "channel_id": message.channel_id})

    def add_attachment(
        self, channel_id: int, filename: str, data: bytes, mime: str, description: str | None = None
    ) -> Attachment:
        attachment = Attachment(self.ids.next(), channel_id, filename, mime, data, description)
        self.attachments[attachment.id] = attachment
        return attachment

    def new_interaction(
        self,
        kind: int,
        channel: Channel,
        user: User,
        data: dict[str, Any],
        message_id: int | None = None,
    ) -> Interaction:
        interaction = Interaction(
            id=self.ids.next(),
            token="aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48),
            type=kind,
            channel_id=channel.id,
            guild_id=channel.guild_id,
            user=user,
            created_at=self.clock.time(),
            data=data,
            message_id=message_id,
        )
        self.interactions[interaction.id] = interaction
        self.counts["interactions"] += 1
        return interaction

    def interaction_by_token(self, token: str) -> Interaction | None:
        return next((i for i in self.interactions.values() if i.token == token), None)

    def command(self, name: str, guild_id: int | None) -> Command | None:
        for scope in (guild_id, None):
            for command in self.commands.get(scope, []):
                if command.name == name and command.type == 1:
                    return command
        return None

    # -- observation -------------------------------------------------------

    def record_request(self, record: RequestRecord) -> None:
        self.requests.append(record)
        if record.status == 429 and record.scope:
            self.rate_limited[record.scope] += 1
        self.note("request", record.as_dict())

    def stats(self) -> Stats:
        by_status = Counter(r.status for r in self.requests)
        return Stats(
            len(self.requests), dict(by_status), dict(self.rate_limited), dict(self.counts)
        )

    def note(self, kind: str, data: dict[str, Any]) -> None:
        """Append to the event log and wake every waiter."""
        self._event_seq += 1
        self.events.append({"seq": self._event_seq, "kind": kind, "data": data})
        if len(self.events) > _EVENT_LOG_CAP:
            del self.events[: len(self.events) - _EVENT_LOG_CAP]
        self.changed()

    def changed(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Wait until `predicate()` is truthy, re-checking after each change."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (result := predicate()):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"fake Discord: condition not met within {timeout} s")
            waiter = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                continue
        return result

    def events_after(self, seq: int) -> list[dict[str, Any]]:
        return [e for e in self.events if e["seq"] > seq]
