"""auth.test, conversations.replies/history/info, users.info, reactions.add, assistant.threads.*.

- conversations.replies (https://docs.slack.dev/reference/methods/conversations.replies):
  parent first, then replies oldest first; cursor pagination through
  ``response_metadata.next_cursor``. For apps outside the Marketplace (changelog
  2025-05-29) ``limit`` defaults to and is capped at 15 — the cap is
  ``SlackLimits.replies_max_messages`` — and the method is limited to 1 call/minute
  (see limits.py). ``oldest`` (with ``inclusive``) keeps the replies after that ``ts``;
  the parent is returned first all the same (the method "returns an entire thread";
  a client must leave it out itself). Errors: ``channel_not_found``,
  ``thread_not_found``, ``invalid_ts_oldest``.
- conversations.history (https://docs.slack.dev/reference/methods/conversations.history):
  a channel's top-level messages (thread replies are left out), newest first,
  those after ``oldest`` only; the same non-Marketplace cap of 15 messages and
  1 call a minute as conversations.replies. Errors: ``channel_not_found``,
  ``invalid_ts_oldest``.
- reactions.add: ``message_not_found``, ``already_reacted``.
- users.info: ``user_not_found``.
- assistant.threads.setStatus / setTitle / setSuggestedPrompts: recorded in
  ``Workspace.assistant_calls``; unknown channel → ``channel_not_found``.
"""

from __future__ import annotations

from .chat import require_channel
from .state import Channel, Json, StoredMessage, User, Workspace, ts_key
from .web_api import ApiCall, ApiError, Handler

__all__ = ["ConversationMethods"]


class ConversationMethods:
    def __init__(self, ws: Workspace):
        self._ws = ws

    def routes(self) -> dict[str, Handler]:
        return {
            "auth.test": self.auth_test,
            "conversations.replies": self.replies,
            "conversations.history": self.history,
            "conversations.info": self.info,
            "users.info": self.users_info,
            "reactions.add": self.reactions_add,
            "assistant.threads.setStatus": self.assistant_call,
            "assistant.threads.setTitle": self.assistant_call,
            "assistant.threads.setSuggestedPrompts": self.assistant_call,
        }

    async def auth_test(self, call: ApiCall) -> Json:
        ws = self._ws
        bot = ws.bot_for(call.token)
        return {
            "url": f"https://{ws.team_domain}.slack.com/",
            "team": ws.team_name,
            "user": bot.name,
            "team_id": ws.team_for(call.token),
            "user_id": bot.id,
            "bot_id": bot.bot_id,
            "is_enterprise_install": False,
        }

    async def replies(self, call: ApiCall) -> Json:
        ws = self._ws
        channel = ws.channels.get(call.text("channel", required=True, error="channel_not_found"))
        if channel is None:
            raise ApiError("channel_not_found")
        thread = ws.thread(channel.id, call.text("ts", required=True, error="thread_not_found"))
        if not thread:
            raise ApiError("thread_not_found")
        inclusive = call.text("inclusive") in ("true", "1")
        thread = _after(thread, call.text("ts"), call.text("oldest"), inclusive)
        cap = ws.limits.replies_max_messages
        try:
            limit = min(int(call.args.get("limit") or cap), cap)
            offset = int(call.text("cursor").removeprefix("ofs:") or 0)
        except ValueError as exc:
            raise ApiError("invalid_arguments") from exc
        page = thread[offset : offset + max(limit, 1)]
        has_more = offset + len(page) < len(thread)
        next_cursor = f"ofs:{offset + len(page)}" if has_more else ""
        return {
            "messages": [ws.message_json(m) for m in page],
            "has_more": has_more,
            "response_metadata": {"next_cursor": next_cursor},
        }

    async def history(self, call: ApiCall) -> Json:
        ws = self._ws
        channel = ws.channels.get(call.text("channel", required=True, error="channel_not_found"))
        if channel is None:
            raise ApiError("channel_not_found")
        top = [
            m
            for m in ws.messages.get(channel.id, {}).values()
            if not m.deleted and (m.thread_ts is None or m.thread_ts == m.ts)
        ]
        oldest = call.text("oldest")
        try:
            start = ts_key(oldest) if oldest else None
        except ValueError as exc:
            raise ApiError("invalid_ts_oldest") from exc
        after = [m for m in top if start is None or ts_key(m.ts) > start]
        newest_first = sorted(after, key=lambda m: ts_key(m.ts), reverse=True)
        cap = ws.limits.replies_max_messages
        try:
            limit = min(int(call.args.get("limit") or cap), cap)
        except ValueError as exc:
            raise ApiError("invalid_arguments") from exc
        page = newest_first[: max(limit, 1)]
        return {
            "messages": [ws.message_json(m) for m in page],
            "has_more": len(page) < len(newest_first),
        }

    async def info(self, call: ApiCall) -> Json:
        channel = self._ws.channels.get(
            call.text("channel", required=True, error="channel_not_found")
        )
        if channel is None:
            raise ApiError("channel_not_found")
        return {"channel": _channel_json(channel)}

    async def users_info(self, call: ApiCall) -> Json:
        user = self._ws.users.get(call.text("user", required=True, error="user_not_found"))
        if user is None:
            raise ApiError("user_not_found")
        return {"user": _user_json(user, self._ws.team_id)}

    async def reactions_add(self, call: ApiCall) -> Json:
        ws = self._ws
        channel = require_channel(ws, call)
        message = ws.find_message(
            channel.id, call.text("timestamp", required=True, error="message_not_found")
        )
        if message is None:
            raise ApiError("message_not_found")
        name = call.text("name", required=True, error="invalid_name")
        users = message.reactions.setdefault(name, [])
        if ws.bot.id in users:
            raise ApiError("already_reacted")
        users.append(ws.bot.id)
        return {}

    async def assistant_call(self, call: ApiCall) -> Json:
        ws = self._ws
        channel = call.text("channel_id", required=True, error="channel_not_found")
        if channel not in ws.channels:
            raise ApiError("channel_not_found")
        record: Json = {"method": call.method, **call.args}
        for name in ("prompts", "loading_messages"):
            if name in call.args:
                record[name] = call.structured(name)
        ws.assistant_calls.append(record)
        return {}


def _after(
    thread: list[StoredMessage], parent_ts: str, oldest: str, inclusive: bool
) -> list[StoredMessage]:
    """The parent, then the replies after ``oldest`` (at or after it: ``inclusive``)."""
    if not oldest:
        return thread
    try:
        start = ts_key(oldest)
    except ValueError as exc:
        raise ApiError("invalid_ts_oldest") from exc
    return [
        m
        for m in thread
        if m.ts == parent_ts or ts_key(m.ts) > start or (inclusive and ts_key(m.ts) == start)
    ]


def _channel_json(channel: Channel) -> Json:
    body: Json = {
        "id": channel.id,
        "name": channel.name,
        "is_channel": channel.kind == "channel",
        "is_group": channel.kind == "group",
        "is_im": channel.kind == "im",
        "is_private": channel.kind != "channel",
        "is_member": channel.is_member,
        "is_archived": False,
        "created": 1_700_000_000,
    }
    if channel.user:
        body["user"] = channel.user
    return body


def _user_json(user: User, team_id: str) -> Json:
    body: Json = {
        "id": user.id,
        "team_id": team_id,
        "name": user.name,
        "real_name": user.real_name,
        "deleted": False,
        "is_bot": user.is_bot,
        "is_admin": user.is_admin,
        "is_owner": user.is_owner,
        "is_primary_owner": user.is_owner,
        "tz": "Europe/London",
        "profile": {
            "display_name": user.name,
            "real_name": user.real_name,
            "image_72": f"https://example.invalid/{user.id}.png",
        },
    }
    if user.bot_id:
        body["profile"]["bot_id"] = user.bot_id
    return body
