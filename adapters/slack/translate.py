"""Slack payloads in, threadline's types out: pure functions, no I/O.

Everything Slack sends (Events API wrappers, ``message``/``app_mention`` events,
slash-command form fields, ``conversations.replies`` pages) stops here; past this
module only ``bot.domain`` types and the small frozen values of shapes.py travel.

Facts relied on (https://docs.slack.dev/reference/events/message and
.../events/app_mention):

- ``ts`` is unique only within a channel, so a message's id is ``"{channel}:{ts}"``;
  slash commands have no ``ts`` and use ``"cmd:{trigger_id}"``.
- A person's mention in a channel arrives twice: as ``app_mention`` and as
  ``message``; the ``message`` copy is left to the ``app_mention`` one.
- Bots' posts carry ``bot_id`` (and subtype ``bot_message`` for other integrations);
  edits and deletions are the ``message_changed`` / ``message_deleted`` subtypes.
- Text is mrkdwn with ``&``, ``<`` and ``>`` escaped
  (https://docs.slack.dev/messaging/formatting-message-text#escaping).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from adapters.slack.shapes import (
    AssistantThreadStarted,
    BotIdentity,
    MessageDeletion,
    MessageEdit,
    PersonMessage,
    ReplyPlace,
    SlackEvent,
    SlackFile,
    SlashCommand,
)
from bot.access import Asker
from bot.domain import Incoming, ThreadKey

__all__ = [
    "PLATFORM",
    "AssistantThreadStarted",
    "BotIdentity",
    "MessageDeletion",
    "MessageEdit",
    "PersonMessage",
    "ReplyPlace",
    "SlackEvent",
    "SlackFile",
    "SlashCommand",
    "command_message_id",
    "earlier_messages",
    "event_from_body",
    "event_id",
    "message_id",
    "plain_text",
    "retry_number",
    "shared_files",
    "should_answer",
    "slash_command",
    "ts_order",
    "user_display_name",
]

PLATFORM = "slack"

# Subtypes that are a person writing something new; every other subtype (joins,
# bot posts, edits, deletions, topic changes…) is not a question.
_NEW_MESSAGE_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})

_LINK = re.compile(r"<((?:https?://|mailto:)[^|<>]+)(?:\|([^<>]*))?>")

Json = Mapping[str, Any]


# -- access ----------------------------------------------------------------------------


def asker(team_id: str, channel_id: str, user_id: str) -> Asker:
    """The facts ``bot.access`` decides on: a thread counts as its channel, and a DM
    (``D…``) has no place but belongs to its workspace."""
    direct = channel_id.startswith("D")
    places = frozenset() if direct else frozenset({channel_id})
    return Asker(user_id=user_id, workspace=team_id, places=places, direct=direct)


# -- ids -------------------------------------------------------------------------------


def message_id(channel: str, ts: str) -> str:
    """The store's idempotency key for a Slack message (``ts`` repeats across channels)."""
    return f"{channel}:{ts}"


def command_message_id(trigger_id: str) -> str:
    return f"cmd:{trigger_id}"


def event_id(body: Json) -> str | None:
    value = body.get("event_id")
    return str(value) if value else None


def retry_number(headers: Mapping[str, Sequence[str]]) -> int:
    """``X-Slack-Retry-Num`` (HTTP) or ``retry_attempt`` (Socket Mode, which Bolt copies
    into that header); 0 is the first delivery, not a retry."""
    values = headers.get("x-slack-retry-num") or ()
    try:
        return int(values[0]) if values else 0
    except ValueError:
        return 0


def ts_order(ts: str) -> tuple[int, int]:
    """A ``ts`` as a sortable pair (seconds, microseconds); string order is wrong."""
    seconds, _, micros = ts.partition(".")
    try:
        return int(seconds), int(micros or 0)
    except ValueError:
        return 0, 0


# -- text ------------------------------------------------------------------------------


def plain_text(text: str, bot_user_id: str | None = None) -> str:
    """What a person wrote, as the model should read it.

    The bot's own mention goes; links read ``label (url)``; Slack's three escaped
    characters are restored. Other mentions stay as Slack wrote them.
    """
    if bot_user_id:
        text = re.sub(f"<@{re.escape(bot_user_id)}>[ \t]?", "", text)
    text = _LINK.sub(_link_text, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text.strip()


def _link_text(match: re.Match[str]) -> str:
    url, label = match.group(1), match.group(2)
    return f"{label} ({url})" if label and label != url else url


def user_display_name(user: Json) -> str:
    """The name a person goes by, from a ``users.info`` user object."""
    profile = user.get("profile") or {}
    for name in (profile.get("display_name"), profile.get("real_name"), user.get("name")):
        if name:
            return str(name)
    return str(user.get("id", ""))


# -- events ----------------------------------------------------------------------------


def event_from_body(body: Json, me: BotIdentity) -> SlackEvent | None:
    """The event an Events API delivery carries, or None when the bot ignores it.

    Own and other bots' messages, joins and the like, and the ``message`` copy
    of a channel mention are dropped here, at the door.
    """
    event = body.get("event")
    if not isinstance(event, Mapping):
        return None
    team = str(body.get("team_id") or event.get("team") or me.team_id)
    kind = event.get("type")
    if kind == "assistant_thread_started":
        return _assistant_thread(event)
    if kind == "app_mention":  # (a subtype never comes with one; a catch-up's read might)
        return _person_message(event, me, team, mentioned=True) if _is_new_message(event) else None
    if kind != "message":
        return None
    subtype = event.get("subtype")
    if subtype == "message_changed":
        return _edit(event, me)
    if subtype == "message_deleted":
        return _deletion(event)
    if not _is_new_message(event) or _from_a_bot(event, me):
        return None
    direct = _is_direct(event)
    if not direct and f"<@{me.user_id}>" in str(event.get("text", "")):
        return None  # the app_mention copy of this message answers it
    return _person_message(event, me, team, mentioned=False)


def _is_new_message(event: Json) -> bool:
    """A person writing something new; a ``subtype`` that is not a string is not one."""
    subtype = event.get("subtype")
    return subtype is None or (isinstance(subtype, str) and subtype in _NEW_MESSAGE_SUBTYPES)


def _from_a_bot(event: Json, me: BotIdentity) -> bool:
    user = event.get("user")
    return (
        bool(event.get("bot_id"))
        or event.get("subtype") == "bot_message"
        or not user
        or user == me.user_id
    )


def _is_direct(event: Json) -> bool:
    return event.get("channel_type") == "im" or str(event.get("channel", "")).startswith("D")


def _person_message(
    event: Json, me: BotIdentity, team: str, *, mentioned: bool
) -> PersonMessage | None:
    if _from_a_bot(event, me) or event.get("hidden"):
        return None
    channel, ts = str(event.get("channel", "")), str(event.get("ts", ""))
    if not channel or not ts:
        return None
    user = str(event["user"])
    parent = event.get("thread_ts")
    in_thread = bool(parent) and parent != ts
    direct = _is_direct(event)
    if direct:
        thread = str(parent) if parent else channel
        reply_in: str | None = str(parent) if parent else None
    else:
        thread = str(parent) if parent else ts
        reply_in = thread
    incoming = Incoming(
        key=ThreadKey(PLATFORM, team, channel, thread),
        message_id=message_id(channel, ts),
        author_id=user,
        author_name=user,  # the adapter looks the name up once it decides to answer
        text=plain_text(str(event.get("text", "")), me.user_id),
    )
    place = ReplyPlace(channel, reply_in, user, team, assistant=direct and bool(parent))
    files = shared_files(event.get("files"))
    return PersonMessage(incoming, place, ts, mentioned, direct, in_thread, files)


def shared_files(files: Any) -> tuple[SlackFile, ...]:
    """The file objects of a ``file_share`` message (or an ``app_mention`` with files)."""
    if not isinstance(files, Sequence) or isinstance(files, str):
        return ()
    return tuple(
        SlackFile(
            id=str(file.get("id", "")),
            name=str(file.get("name") or file.get("title") or file.get("id") or "file"),
            mimetype=str(file.get("mimetype") or ""),
            size=_int(file.get("size")),
            url=str(file.get("url_private") or ""),
        )
        for file in files
        if isinstance(file, Mapping)
    )


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def place_of(key: ThreadKey, recipient_user_id: str) -> ReplyPlace:
    """Where the answer to a question stored under ``key`` goes, as ``_person_message``
    placed it: the thread, or the top level of a DM (whose key's thread is the channel)."""
    thread_ts = None if key.thread == key.channel else key.thread
    direct = key.channel.startswith("D")
    return ReplyPlace(
        key.channel,
        thread_ts,
        recipient_user_id,
        key.workspace,
        assistant=direct and thread_ts is not None,
    )


def should_answer(message: PersonMessage, *, known_thread: bool) -> bool:
    """DMs always; a mention always; a thread reply only where the bot already talks."""
    return message.direct or message.mentioned or (message.in_thread and known_thread)


def _edit(event: Json, me: BotIdentity) -> MessageEdit | None:
    new = event.get("message")
    old = event.get("previous_message")
    old = old if isinstance(old, Mapping) else {}
    if not isinstance(new, Mapping) or _from_a_bot(new, me):
        return None
    if new.get("text") == old.get("text"):
        return None  # a reply count or an unfurl changed, not the words
    channel = str(event.get("channel", ""))
    return MessageEdit(
        message_id(channel, str(new.get("ts", ""))),
        plain_text(str(new.get("text", "")), me.user_id),
    )


def _deletion(event: Json) -> MessageDeletion | None:
    deleted = event.get("deleted_ts")
    if not deleted:
        return None
    return MessageDeletion(message_id(str(event.get("channel", "")), str(deleted)))


def _assistant_thread(event: Json) -> AssistantThreadStarted | None:
    thread = event.get("assistant_thread")
    if not isinstance(thread, Mapping):
        return None
    return AssistantThreadStarted(
        str(thread.get("channel_id", "")),
        str(thread.get("thread_ts", "")),
        str(thread.get("user_id", "")),
    )


# -- thread history -----------------------------------------------------------------------


def earlier_messages(
    messages: Iterable[Json], me: BotIdentity, *, key: ThreadKey, before_ts: str
) -> list[Incoming]:
    """People's messages of a ``conversations.replies`` page written before ``before_ts``.

    Bots' posts (threadline's included) are left out: only what people wrote
    becomes context.
    """
    found = []
    limit = ts_order(before_ts)
    for message in messages:
        ts = str(message.get("ts", ""))
        if (
            not ts
            or ts_order(ts) >= limit
            or not _is_new_message(message)
            or _from_a_bot(message, me)
        ):
            continue
        text = plain_text(str(message.get("text", "")), me.user_id)
        if not text:
            continue
        user = str(message["user"])
        found.append(Incoming(key, message_id(key.channel, ts), user, user, text))
    return found


# -- slash commands ------------------------------------------------------------------------


def slash_command(body: Json) -> SlashCommand:
    return SlashCommand(
        name=str(body.get("command", "")),
        text=plain_text(str(body.get("text", ""))),
        user_id=str(body.get("user_id", "")),
        user_name=str(body.get("user_name", "")),
        team_id=str(body.get("team_id", "")),
        channel_id=str(body.get("channel_id", "")),
        trigger_id=str(body.get("trigger_id", "")),
        thread_ts=str(body["thread_ts"]) if body.get("thread_ts") else None,
    )
