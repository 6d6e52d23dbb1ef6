"""Builders for the payloads Slack sends to an app, shaped like the reference examples.

- Events API wrapper (``event_callback``) and inner events:
  https://docs.slack.dev/apis/events-api/#callback-field,
  https://docs.slack.dev/reference/events/app_mention, .../events/message (and the
  ``bot_message``, ``file_share``, ``message_changed``, ``message_deleted`` subtypes),
  .../events/assistant_thread_started, .../events/assistant_thread_context_changed.
- Slash commands (form fields): https://docs.slack.dev/interactivity/implementing-slash-commands
- ``block_actions``: https://docs.slack.dev/reference/interaction-payloads/block_actions-payload

Every event gets a fresh ``event_id`` and ``event_time``; user messages carry a
``client_msg_id`` (that is how Slack marks a human-typed message).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from .state import Json, StoredFile, Workspace

__all__ = ["PayloadFactory"]

ALICE = "U0ALICE001"
GENERAL = "C0GENERAL1"
DM = "D0ALICE001"


def _rich_text(text: str) -> list[Json]:
    """The ``rich_text`` block Slack clients attach to what a person typed."""
    return [
        {
            "type": "rich_text",
            "block_id": uuid.uuid4().hex[:5],
            "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
            ],
        }
    ]


class PayloadFactory:
    """Builds payloads with the workspace's ids; none of them is sent by building it."""

    def __init__(self, workspace: Workspace):
        self._ws = workspace

    # ---- wrappers ------------------------------------------------------------

    def event_callback(self, event: Json, *, token: str | None = None) -> Json:
        """Wrap an inner event the way the Events API delivers it (HTTP and Socket Mode);
        ``token``: to the workspace that installed the app with it (oauth.py)."""
        ws = self._ws
        team = ws.team_for(token) if token else ws.team_id
        bot = ws.bot_for(token) if token else ws.bot
        return {
            "token": "fake-verification-token",
            "team_id": team,
            "context_team_id": team,
            "context_enterprise_id": None,
            "api_app_id": ws.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": ws.new_id("Ev"),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team,
                    "user_id": bot.id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{uuid.uuid4().hex}",
        }

    # ---- message-like events -------------------------------------------------

    def app_mention(
        self,
        text: str,
        *,
        channel: str = GENERAL,
        user: str = ALICE,
        thread_ts: str | None = None,
        ts: str | None = None,
    ) -> Json:
        """An ``app_mention``; ``<@BOT>`` is put in front of ``text`` unless it is there."""
        mention = f"<@{self._ws.bot.id}>"
        full = text if mention in text else f"{mention} {text}"
        ts = ts or self._ws.next_ts()
        event: Json = {
            "type": "app_mention",
            "user": user,
            "text": full,
            "ts": ts,
            "client_msg_id": str(uuid.uuid4()),
            "team": self._ws.team_id,
            "blocks": _rich_text(full),
            "channel": channel,
            "event_ts": ts,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return event

    def message(
        self,
        text: str,
        *,
        channel: str = GENERAL,
        user: str = ALICE,
        thread_ts: str | None = None,
        files: list[StoredFile] | None = None,
        ts: str | None = None,
    ) -> Json:
        """A person's message: in a channel, a thread reply (``thread_ts``) or an IM.

        With ``files`` it becomes the ``file_share`` subtype with ``upload: true`` and
        full file objects whose ``url_private`` is served by the fake.
        """
        ts = ts or self._ws.next_ts()
        event: Json = {
            "type": "message",
            "user": user,
            "text": text,
            "ts": ts,
            "client_msg_id": str(uuid.uuid4()),
            "team": self._ws.team_id,
            "blocks": _rich_text(text),
            "channel": channel,
            "event_ts": ts,
            "channel_type": self._ws.channel_type(channel),
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
            parent = self._ws.find_message(channel, thread_ts)
            event["parent_user_id"] = parent.user if parent else user
        if files:
            event.update(
                subtype="file_share",
                upload=True,
                display_as_bot=False,
                files=[self._ws.file_json(f) for f in files],
            )
        return event

    def bot_message(
        self,
        text: str,
        *,
        channel: str = GENERAL,
        bot_id: str = "B0OTHER001",
        username: str = "otherbot",
        thread_ts: str | None = None,
        own: bool = False,
    ) -> Json:
        """A message from a bot.

        ``own=False``: another integration's post, subtype ``bot_message`` with
        ``bot_id`` and ``username`` (no ``user``). ``own=True``: this app's own post as
        Slack echoes it back — no subtype, ``user`` is the bot user, ``bot_id`` and
        ``app_id`` set (Bolt drops these with its IgnoringSelfEvents middleware).
        """
        ts = self._ws.next_ts()
        event: Json = {
            "type": "message",
            "text": text,
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
            "channel_type": self._ws.channel_type(channel),
        }
        if own:
            event.update(user=self._ws.bot.id, bot_id=self._ws.bot.bot_id, app_id=self._ws.app_id)
        else:
            event.update(subtype="bot_message", bot_id=bot_id, username=username)
        if thread_ts:
            event["thread_ts"] = thread_ts
        return event

    def message_changed(
        self, *, channel: str, ts: str, text: str, previous_text: str, user: str = ALICE
    ) -> Json:
        """``message_changed``: ``message`` holds the new version, with ``edited``."""
        event_ts = self._ws.next_ts()
        original: Json = {"type": "message", "user": user, "text": previous_text, "ts": ts}
        original["team"] = self._ws.team_id
        return {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "message": {**original, "text": text, "edited": {"user": user, "ts": event_ts}},
            "previous_message": original,
            "channel": channel,
            "channel_type": self._ws.channel_type(channel),
            "ts": event_ts,
            "event_ts": event_ts,
        }

    def message_deleted(
        self, *, channel: str, ts: str, previous_text: str = "", user: str = ALICE
    ) -> Json:
        """``message_deleted``: ``deleted_ts`` names the removed message."""
        event_ts = self._ws.next_ts()
        return {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "deleted_ts": ts,
            "previous_message": {"type": "message", "user": user, "text": previous_text, "ts": ts},
            "channel": channel,
            "channel_type": self._ws.channel_type(channel),
            "ts": event_ts,
            "event_ts": event_ts,
        }

    # ---- assistant -------------------------------------------------------------

    def assistant_thread_started(
        self,
        *,
        channel: str = DM,
        thread_ts: str | None = None,
        user: str = ALICE,
        context_channel: str | None = GENERAL,
    ) -> Json:
        return self._assistant_event(
            "assistant_thread_started", channel, thread_ts, user, context_channel
        )

    def assistant_thread_context_changed(
        self,
        *,
        channel: str = DM,
        thread_ts: str,
        user: str = ALICE,
        context_channel: str | None = GENERAL,
    ) -> Json:
        return self._assistant_event(
            "assistant_thread_context_changed", channel, thread_ts, user, context_channel
        )

    def _assistant_event(
        self, kind: str, channel: str, thread_ts: str | None, user: str, context: str | None
    ) -> Json:
        context_json: Json = {}
        if context:
            context_json = {
                "channel_id": context,
                "team_id": self._ws.team_id,
                "enterprise_id": None,
            }
        return {
            "type": kind,
            "assistant_thread": {
                "user_id": user,
                "context": context_json,
                "channel_id": channel,
                "thread_ts": thread_ts or self._ws.next_ts(),
            },
            "event_ts": self._ws.next_ts(),
        }

    # ---- slash commands and interactivity ----------------------------------------

    def response_url(self) -> str:
        """A ``response_url`` served by the fake (POSTs are recorded in ``responses``)."""
        return f"{self._ws.origin}/_fake/response/{uuid.uuid4().hex}"

    def slash_command(
        self, command: str = "/ask", text: str = "", *, channel: str = GENERAL, user: str = ALICE
    ) -> dict[str, str]:
        """The form fields of a slash command (all strings, as Slack posts them)."""
        ws = self._ws
        chan = ws.channels.get(channel)
        person = ws.users.get(user)
        return {
            "token": "fake-verification-token",
            "team_id": ws.team_id,
            "team_domain": ws.team_domain,
            "channel_id": channel,
            "channel_name": chan.name if chan else "unknown",
            "user_id": user,
            "user_name": person.name if person else "unknown",
            "command": command,
            "text": text,
            "api_app_id": ws.app_id,
            "is_enterprise_install": "false",
            "response_url": self.response_url(),
            "trigger_id": f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}",
        }

    def block_actions(
        self,
        *,
        action_id: str,
        value: str = "",
        message_ts: str,
        channel: str = GENERAL,
        user: str = ALICE,
        block_id: str = "actions",
        thread_ts: str | None = None,
        text: str = "Button",
    ) -> Json:
        """A button click on a message (``block_actions`` interaction payload)."""
        ws = self._ws
        person = ws.users.get(user)
        stored = ws.find_message(channel, message_ts)
        container: Json = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        }
        if thread_ts:
            container["thread_ts"] = thread_ts
        return {
            "type": "block_actions",
            "user": {"id": user, "username": person.name if person else "", "team_id": ws.team_id},
            "api_app_id": ws.app_id,
            "token": "fake-verification-token",
            "container": container,
            "trigger_id": f"{int(time.time())}.{uuid.uuid4().hex}",
            "team": {"id": ws.team_id, "domain": ws.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {
                "id": channel,
                "name": ws.channels[channel].name if channel in ws.channels else "",
            },
            "message": ws.message_json(stored) if stored else {"type": "message", "ts": message_ts},
            "state": {"values": {}},
            "response_url": self.response_url(),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": {"type": "plain_text", "text": text, "emoji": True},
                    "value": value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }

    def other_event(self, kind: str, **fields: Any) -> Json:
        """Any other inner event (``reaction_added``, ``member_joined_channel``…)."""
        return {"type": kind, "event_ts": self._ws.next_ts(), **fields}
