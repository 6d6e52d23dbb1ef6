"""REST routes for users, channels, messages and threads (API v10 paths).

Paths are the ones discord.py builds (discord/http.py `Route(...)`), mounted
under /api/v10. Every change a bot makes is echoed on the gateway, as Discord
does: a bot receives MESSAGE_CREATE for its own messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .limits import (
    MAX_THREAD_NAME,
    MISSING_PERMISSIONS,
    THREAD_ALREADY_CREATED,
    ApiError,
    FormErrors,
)
from .messages import create_fields, edit_changes
from .model import PRIVATE_THREAD, PUBLIC_THREAD, THREAD_TYPES, Channel, Message
from .wire import json_response, no_content, read_body

if TYPE_CHECKING:
    from .gateway import Gateway
    from .payloads import Renderer
    from .state import World

API = "/api/v10"


def delete_payload(message: Message) -> dict[str, Any]:
    """MESSAGE_DELETE: id, channel_id and (in guilds) guild_id."""
    payload = {"id": str(message.id), "channel_id": str(message.channel_id)}
    if message.guild_id is not None:
        payload["guild_id"] = str(message.guild_id)
    return payload


class RestApi:
    def __init__(self, world: World, render: Renderer, gateway: Gateway) -> None:
        self.world = world
        self.render = render
        self.gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        channel = API + "/channels/{channel_id}"
        message = channel + "/messages/{message_id}"
        return [
            web.get(API + "/gateway", self.get_gateway),
            web.get(API + "/gateway/bot", self.get_gateway_bot),
            web.get(API + "/users/@me", self.get_me),
            web.get(API + "/users/{user_id}", self.get_user),
            web.post(API + "/users/@me/channels", self.create_dm),
            web.get(API + "/oauth2/applications/@me", self.get_application),
            web.get(API + "/applications/@me", self.get_application),
            web.get(channel, self.get_channel),
            web.post(channel + "/typing", self.typing),
            web.get(channel + "/messages", self.list_messages),
            web.post(channel + "/messages", self.create_message),
            web.get(message, self.get_message),
            web.patch(message, self.edit_message),
            web.delete(message, self.delete_message),
            web.put(message + "/reactions/{emoji}/@me", self.add_reaction),
            web.delete(message + "/reactions/{emoji}/@me", self.remove_reaction),
            web.post(message + "/threads", self.thread_from_message),
            web.post(channel + "/threads", self.thread_without_message),
            web.put(channel + "/thread-members/@me", self.join_thread),
            web.delete(channel + "/thread-members/@me", self.leave_thread),
        ]

    # -- identity ----------------------------------------------------------

    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.gateway.url})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway.url,
                "shards": self.world.config.shards,
                "session_start_limit": self.gateway.identify_gate.session_start_limit(),
            }
        )

    async def get_me(self, request: web.Request) -> web.Response:
        return json_response(self.render.bot_user())

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.world.users.get(int(request.match_info["user_id"]))
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return json_response(self.render.user(user))

    async def get_application(self, request: web.Request) -> web.Response:
        return json_response(self.render.application())

    async def create_dm(self, request: web.Request) -> web.Response:
        body = await read_body(request, self.world.config.upload_limit)
        user = self.world.users.get(int(body.payload.get("recipient_id") or 0))
        if user is None:
            raise ApiError(400, 50033, "Invalid Recipient(s)")
        return json_response(self.render.channel(self.world.open_dm(user)))

    # -- channels and messages --------------------------------------------

    def _channel(self, request: web.Request) -> Channel:
        return self.world.channel(request.match_info["channel_id"])

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(self.render.channel(self._channel(request)))

    async def typing(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        self.world.counts["typing"] += 1
        self.world.note("typing", {"channel_id": channel.id})
        return no_content()

    async def list_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        limit = min(int(request.query.get("limit", 50)), 100)
        before = int(request.query.get("before", 1 << 63))
        after = int(request.query.get("after", 0))
        found = [m for m in self.world.channel_messages(channel.id) if after < m.id < before]
        found.sort(key=lambda m: m.id, reverse=True)
        return json_response([self.render.message(m) for m in found[:limit]])

    async def create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        body = await read_body(request, self.world.config.upload_limit)
        content, extra = create_fields(self.world, channel, body)
        message = self.world.create_message(channel, self.world.bot, content, **extra)
        await self.gateway.dispatch_message("MESSAGE_CREATE", message)
        return json_response(self.render.message(message))

    async def get_message(self, request: web.Request) -> web.Response:
        info = request.match_info
        message = self.world.message(info["channel_id"], info["message_id"])
        return json_response(self.render.message(message))

    async def edit_message(self, request: web.Request) -> web.Response:
        info = request.match_info
        message = self.world.message(info["channel_id"], info["message_id"])
        body = await read_body(request, self.world.config.upload_limit)
        self.world.edit_message(message, self.world.bot, edit_changes(self.world, message, body))
        await self.gateway.dispatch_message("MESSAGE_UPDATE", message)
        return json_response(self.render.message(message))

    async def delete_message(self, request: web.Request) -> web.Response:
        info = request.match_info
        message = self.world.message(info["channel_id"], info["message_id"])
        self.world.delete_message(message)
        await self.gateway.dispatch("MESSAGE_DELETE", delete_payload(message))
        return no_content()

    async def add_reaction(self, request: web.Request) -> web.Response:
        info = request.match_info
        message = self.world.message(info["channel_id"], info["message_id"])
        if info["emoji"] not in message.reactions:
            message.reactions.append(info["emoji"])
            self.world.note("reaction_add", {"message_id": message.id, "emoji": info["emoji"]})
        return no_content()

    async def remove_reaction(self, request: web.Request) -> web.Response:
        info = request.match_info
        message = self.world.message(info["channel_id"], info["message_id"])
        if info["emoji"] in message.reactions:
            message.reactions.remove(info["emoji"])
            self.world.note("reaction_remove", {"message_id": message.id, "emoji": info["emoji"]})
        return no_content()

    # -- threads -----------------------------------------------------------

    def _thread_name(self, payload: dict[str, object]) -> str:
        name = str(payload.get("name") or "")
        if not 1 <= len(name) <= MAX_THREAD_NAME:
            errors = FormErrors()
            errors.add(
                ["name"],
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {MAX_THREAD_NAME} in length.",
            )
            errors.raise_if_any()
        return name

    async def thread_from_message(self, request: web.Request) -> web.Response:
        """Start Thread from Message: the thread's id is the message's id."""
        info = request.match_info
        parent = self._channel(request)
        message = self.world.message(parent.id, info["message_id"])
        body = await read_body(request, self.world.config.upload_limit)
        name = self._thread_name(body.payload)
        if not self.world.config.threads_allowed:
            raise ApiError(403, MISSING_PERMISSIONS, "Missing Permissions")
        if message.thread_id is not None:
            raise ApiError(
                400, THREAD_ALREADY_CREATED, "A thread has already been created for this message"
            )
        if parent.is_thread or parent.guild_id is None:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        archive = int(body.payload.get("auto_archive_duration") or 1440)
        thread = self.world.create_thread(
            parent,
            name,
            self.world.bot,
            PUBLIC_THREAD,
            thread_id=message.id,
            auto_archive_duration=archive,
        )
        message.thread_id = thread.id
        await self.announce_thread(thread)
        return json_response(self.render.thread(thread), status=201)

    async def thread_without_message(self, request: web.Request) -> web.Response:
        """Start Thread without Message: `type` defaults to PRIVATE_THREAD (12)."""
        parent = self._channel(request)
        body = await read_body(request, self.world.config.upload_limit)
        name = self._thread_name(body.payload)
        kind = int(body.payload.get("type") or PRIVATE_THREAD)
        if kind not in THREAD_TYPES or parent.is_thread or parent.guild_id is None:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        archive = int(body.payload.get("auto_archive_duration") or 1440)
        thread = self.world.create_thread(
            parent, name, self.world.bot, kind, auto_archive_duration=archive
        )
        await self.announce_thread(thread)
        return json_response(self.render.thread(thread), status=201)

    async def announce_thread(self, thread: Channel) -> None:
        # THREAD_CREATE needs the GUILDS intent (gateway#list-of-intents).
        await self.gateway.dispatch(
            "THREAD_CREATE", self.render.thread(thread, newly_created=True), 1
        )

    async def join_thread(self, request: web.Request) -> web.Response:
        thread = self._channel(request)
        thread.member_ids.add(self.world.bot.id)
        return no_content()

    async def leave_thread(self, request: web.Request) -> web.Response:
        thread = self._channel(request)
        thread.member_ids.discard(self.world.bot.id)
        return no_content()
