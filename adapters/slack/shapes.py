"""The small frozen values Slack's payloads become (translate.py builds them).

Past the translation only these and ``bot.domain`` types travel: who the bot is,
where an answer goes, a person's message, an edit, a deletion, an assistant
thread, a slash command, a shared file.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import Incoming

__all__ = [
    "AssistantThreadStarted",
    "BotIdentity",
    "MessageDeletion",
    "MessageEdit",
    "PersonMessage",
    "ReplyPlace",
    "SlackEvent",
    "SlackFile",
    "SlashCommand",
]


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is in its workspace (from ``auth.test``)."""

    user_id: str
    bot_id: str
    team_id: str


@dataclass(frozen=True, slots=True)
class ReplyPlace:
    """Where an answer goes: a channel and thread, and who it is for.

    ``thread_ts`` is None for the top level of a DM. ``assistant`` marks an
    AI-app assistant thread (a threaded DM), where the "is thinking…" status and
    thread titles exist.
    """

    channel: str
    thread_ts: str | None
    recipient_user_id: str
    team_id: str
    assistant: bool = False


@dataclass(frozen=True, slots=True)
class SlackFile:
    """A file shared with a message, as its file object describes it
    (https://docs.slack.dev/reference/objects/file-object).

    ``url`` is ``url_private``: it needs the bot token (scope ``files:read``).
    ``size`` is what Slack declares; the download is capped again on its own.
    """

    id: str
    name: str
    mimetype: str
    size: int
    url: str


@dataclass(frozen=True, slots=True)
class PersonMessage:
    """A person's new message, with what decides whether the bot answers it."""

    incoming: Incoming
    place: ReplyPlace
    ts: str
    mentioned: bool
    direct: bool
    in_thread: bool
    files: tuple[SlackFile, ...] = ()


@dataclass(frozen=True, slots=True)
class MessageEdit:
    message_id: str
    text: str


@dataclass(frozen=True, slots=True)
class MessageDeletion:
    message_id: str


@dataclass(frozen=True, slots=True)
class AssistantThreadStarted:
    channel: str
    thread_ts: str
    user_id: str


SlackEvent = PersonMessage | MessageEdit | MessageDeletion | AssistantThreadStarted


@dataclass(frozen=True, slots=True)
class SlashCommand:
    """A slash command's form fields (https://docs.slack.dev/interactivity/implementing-slash-commands)."""

    name: str
    text: str
    user_id: str
    user_name: str
    team_id: str
    channel_id: str
    trigger_id: str
    thread_ts: str | None = None

    @property
    def direct(self) -> bool:
        return self.channel_id.startswith("D")
