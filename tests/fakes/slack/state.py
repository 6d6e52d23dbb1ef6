"""The fake workspace: users, channels, messages, files, streams — and their JSON shapes.

Shapes follow the Web API reference (message objects as returned by
conversations.replies, file objects as in ``files.info``); see
https://docs.slack.dev/reference/objects/message-object and .../file-object.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .limits import SlackLimits

__all__ = [
    "Channel",
    "MessageView",
    "StoredFile",
    "StoredMessage",
    "StreamInfo",
    "User",
    "Workspace",
    "ts_key",
]

ChannelKind = Literal["channel", "group", "im"]
StreamState = Literal["none", "streaming", "stopped", "expired"]
Json = dict[str, Any]


@dataclass(slots=True)
class User:
    id: str
    name: str
    real_name: str
    is_bot: bool = False
    bot_id: str | None = None
    # users.info's role flags (https://docs.slack.dev/reference/methods/users.info)
    is_admin: bool = False
    is_owner: bool = False


@dataclass(slots=True)
class Channel:
    id: str
    name: str
    kind: ChannelKind = "channel"
    user: str | None = None  # the other party of an IM
    is_member: bool = True


@dataclass(slots=True)
class StoredFile:
    id: str
    name: str
    title: str
    mimetype: str
    user: str
    created: int
    content: bytes | None = None  # None until the upload URL received the bytes
    length: int = 0
    alt_txt: str | None = None
    shared: bool = False


@dataclass(slots=True)
class StreamInfo:
    started_at: float
    recipient_user_id: str | None
    recipient_team_id: str | None
    stopped: bool = False
    appends: int = 0


@dataclass(slots=True)
class StoredMessage:
    channel: str
    ts: str
    user: str
    text: str = ""
    markdown: str | None = None
    blocks: list[Json] = field(default_factory=list)
    thread_ts: str | None = None
    bot_id: str | None = None
    subtype: str | None = None
    client_msg_id: str | None = None
    files: list[str] = field(default_factory=list)
    edits: int = 0
    edited_ts: str | None = None
    deleted: bool = False
    stream: StreamInfo | None = None
    chunks: list[Json] = field(default_factory=list)
    reactions: dict[str, list[str]] = field(default_factory=dict)
    metadata: Json | None = None


@dataclass(frozen=True, slots=True)
class MessageView:
    """What a test sees of one message: its current content and history counters."""

    channel: str
    ts: str
    thread_ts: str | None
    user: str
    bot_id: str | None
    text: str
    markdown: str | None
    blocks: tuple[Json, ...]
    edits: int
    stream_state: StreamState
    files: tuple[str, ...]  # file names
    reactions: tuple[str, ...]
    deleted: bool
    chunks: tuple[Json, ...]

    @property
    def body(self) -> str:
        """The markdown if the message has any, else its text."""
        return self.markdown if self.markdown is not None else self.text

    def as_json(self) -> Json:
        return {
            "channel": self.channel,
            "ts": self.ts,
            "thread_ts": self.thread_ts,
            "user": self.user,
            "bot_id": self.bot_id,
            "text": self.text,
            "markdown": self.markdown,
            "blocks": list(self.blocks),
            "edits": self.edits,
            "stream_state": self.stream_state,
            "files": list(self.files),
            "reactions": list(self.reactions),
            "deleted": self.deleted,
        }


class Workspace:
    """One team with one installed app (bot) in it."""

    def __init__(self, limits: SlackLimits, clock: Callable[[], float] = time.monotonic):
        self.limits = limits
        self.clock = clock
        self.team_id = "T0FAKE0001"
        self.team_domain = "threadline-fake"
        self.team_name = "Threadline Fake"
        self.app_id = "A0FAKE0001"
        self.bot = User("U0BOT00001", "threadline", "Threadline", is_bot=True, bot_id="B0BOT00001")
        self.origin = "http://127.0.0.1"  # set by the server once it has a port
        self.users: dict[str, User] = {self.bot.id: self.bot}
        # Other workspaces that installed the app by OAuth (oauth.py): token -> (team, bot).
        self.installs: dict[str, tuple[str, User]] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: dict[str, dict[str, StoredMessage]] = {}
        self.files: dict[str, StoredFile] = {}
        self.ephemerals: list[Json] = []
        self.assistant_calls: list[Json] = []
        self.responses: list[Json] = []  # bodies POSTed to response_url
        self._last_ts_us = 0
        self._seq = 0
        self.add_user("U0ALICE001", "alice", "Alice Example")
        self.add_user("U0BOB00001", "bob", "Bob Example")
        self.add_channel("C0GENERAL1", "general")
        self.add_channel("C0RANDOM01", "random")
        self.add_channel("D0ALICE001", "alice", kind="im", user="U0ALICE001")

    def bot_for(self, token: str) -> User:
        """The bot user a token speaks as: an OAuth install's, else the home bot."""
        install = self.installs.get(token)
        return install[1] if install is not None else self.bot

    def team_for(self, token: str) -> str:
        install = self.installs.get(token)
        return install[0] if install is not None else self.team_id

    # ---- ids ---------------------------------------------------------------

    def next_ts(self) -> str:
        """A Slack ``ts``: epoch seconds with 6 decimals, unique and increasing."""
        now_us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = now_us
        return f"{now_us // 1_000_000}.{now_us % 1_000_000:06d}"

    def new_id(self, prefix: str) -> str:
        """Slack-looking ids: a type letter then upper-case alphanumerics."""
        self._seq += 1
        return f"{prefix}{uuid.uuid4().hex[:6].upper()}{self._seq:04d}"

    # ---- directory ---------------------------------------------------------

    def add_user(self, user_id: str, name: str, real_name: str = "") -> User:
        user = User(user_id, name, real_name or name)
        self.users[user_id] = user
        return user

    def add_channel(
        self, channel_id: str, name: str, kind: ChannelKind = "channel", user: str | None = None
    ) -> Channel:
        channel = Channel(channel_id, name, kind, user)
        self.channels[channel_id] = channel
        self.messages.setdefault(channel_id, {})
        return channel

    def channel_type(self, channel_id: str) -> str:
        channel = self.channels.get(channel_id)
        return channel.kind if channel else "channel"

    # ---- messages ----------------------------------------------------------

    def add_message(self, message: StoredMessage) -> StoredMessage:
        self.messages.setdefault(message.channel, {})[message.ts] = message
        return message

    def find_message(self, channel: str, ts: str) -> StoredMessage | None:
        found = self.messages.get(channel, {}).get(ts)
        return None if found is None or found.deleted else found

    def thread(self, channel: str, thread_ts: str) -> list[StoredMessage]:
        """The parent (if stored) and its replies, oldest first, deleted ones left out."""
        in_channel = self.messages.get(channel, {}).values()
        found = [
            m
            for m in in_channel
            if not m.deleted and (m.ts == thread_ts or m.thread_ts == thread_ts)
        ]
        return sorted(found, key=lambda m: ts_key(m.ts))

    def reply_count(self, channel: str, thread_ts: str) -> int:
        return sum(1 for m in self.thread(channel, thread_ts) if m.ts != thread_ts)

    def stream_state(self, message: StoredMessage) -> StreamState:
        stream = message.stream
        if stream is None:
            return "none"
        if stream.stopped:
            return "stopped"
        if self.clock() - stream.started_at >= self.limits.stream_max_age:
            return "expired"
        return "streaming"

    def view(self, message: StoredMessage) -> MessageView:
        return MessageView(
            channel=message.channel,
            ts=message.ts,
            thread_ts=message.thread_ts,
            user=message.user,
            bot_id=message.bot_id,
            text=message.text,
            markdown=message.markdown,
            blocks=tuple(message.blocks),
            edits=message.edits,
            stream_state=self.stream_state(message),
            files=tuple(self.files[f].name for f in message.files if f in self.files),
            reactions=tuple(message.reactions),
            deleted=message.deleted,
            chunks=tuple(message.chunks),
        )

    def views(
        self, channel: str, thread_ts: str | None = None, include_deleted: bool = False
    ) -> list[MessageView]:
        if thread_ts is not None:
            chosen = self.thread(channel, thread_ts)
        else:
            chosen = sorted(self.messages.get(channel, {}).values(), key=lambda m: ts_key(m.ts))
            chosen = [m for m in chosen if include_deleted or not m.deleted]
        return [self.view(m) for m in chosen]

    def record_user_event(self, event: Json) -> None:
        """Apply what a person did (as an inner event) to the store, so the Web API sees it.

        New messages are stored once per ``ts`` (Slack sends both ``message`` and
        ``app_mention`` for one message); ``message_changed`` edits, ``message_deleted``
        deletes.
        """
        subtype = event.get("subtype")
        channel = str(event.get("channel", ""))
        if subtype == "message_changed":
            changed = event.get("message", {})
            found = self.find_message(channel, str(changed.get("ts", "")))
            if found is not None:
                found.text = str(changed.get("text", ""))
                found.edits += 1
                found.edited_ts = str(event.get("ts"))
            return
        if subtype == "message_deleted":
            found = self.find_message(channel, str(event.get("deleted_ts", "")))
            if found is not None:
                found.deleted = True
            return
        if event.get("type") not in ("message", "app_mention") or not channel:
            return
        if subtype not in (None, "file_share", "bot_message", "thread_broadcast"):
            return
        ts = str(event["ts"])
        if ts in self.messages.get(channel, {}):
            return
        files = [str(f["id"]) for f in event.get("files", []) if f.get("id") in self.files]
        self.add_message(
            StoredMessage(
                channel=channel,
                ts=ts,
                user=str(event.get("user", "")),
                text=str(event.get("text", "")),
                blocks=list(event.get("blocks", [])),
                thread_ts=event.get("thread_ts"),
                bot_id=event.get("bot_id"),
                subtype=subtype,
                client_msg_id=event.get("client_msg_id"),
                files=files,
            )
        )

    # ---- JSON shapes ---------------------------------------------------------

    def message_json(self, message: StoredMessage) -> Json:
        """A message object as conversations.replies and chat.* return it."""
        body: Json = {"type": "message", "user": message.user, "text": message.text}
        body["ts"] = message.ts
        body["team"] = self.team_id
        if message.subtype:
            body["subtype"] = message.subtype
        if message.bot_id:
            body["bot_id"] = message.bot_id
            body["app_id"] = self.app_id
        if message.client_msg_id:
            body["client_msg_id"] = message.client_msg_id
        if message.blocks:
            body["blocks"] = message.blocks
        if message.thread_ts:
            body["thread_ts"] = message.thread_ts
        if message.thread_ts in (None, message.ts):
            replies = self.reply_count(message.channel, message.ts)
            if replies:  # a parent carries its thread_ts and reply_count once replied to
                body["thread_ts"] = message.ts
                body["reply_count"] = replies
        if message.edited_ts:
            body["edited"] = {"user": message.user, "ts": message.edited_ts}
        if message.files:
            body["files"] = [self.file_json(self.files[f]) for f in message.files]
            body["upload"] = False
        if message.reactions:
            body["reactions"] = [
                {"name": name, "users": users, "count": len(users)}
                for name, users in message.reactions.items()
            ]
        if message.metadata:
            body["metadata"] = message.metadata
        return body

    def file_json(self, stored: StoredFile) -> Json:
        """A file object; ``url_private`` points at this fake and needs the bot token."""
        path = f"{self.origin}/files-pri/{self.team_id}-{stored.id}"
        return {
            "id": stored.id,
            "created": stored.created,
            "timestamp": stored.created,
            "name": stored.name,
            "title": stored.title,
            "mimetype": stored.mimetype,
            "filetype": stored.name.rsplit(".", 1)[-1] if "." in stored.name else "binary",
            "pretty_type": stored.mimetype,
            "user": stored.user,
            "user_team": self.team_id,
            "size": len(stored.content) if stored.content is not None else stored.length,
            "mode": "hosted",
            "is_external": False,
            "is_public": False,
            "url_private": f"{path}/{stored.name}",
            "url_private_download": f"{path}/download/{stored.name}",
            "permalink": f"{self.origin}/files/{stored.user}/{stored.id}/{stored.name}",
            "alt_txt": stored.alt_txt,
        }

    def add_file(
        self, name: str, content: bytes, mimetype: str, user: str = "U0ALICE001"
    ) -> StoredFile:
        """Store a file as if a user had uploaded it (for message-with-files events)."""
        stored = StoredFile(
            id=self.new_id("F"),
            name=name,
            title=name,
            mimetype=mimetype,
            user=user,
            created=int(time.time()),
            content=content,
            length=len(content),
            shared=True,
        )
        self.files[stored.id] = stored
        return stored


def ts_key(ts: str) -> tuple[int, int]:
    """A ``ts`` as a sortable pair; a malformed one raises ValueError."""
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)
