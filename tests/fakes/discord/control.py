"""The HTTP control API: drive the fake from another process (e.g. `threadline run`).

    GET  /_fake/info                          URLs, token, ids of bot, guilds, channels, users
    POST /_fake/dispatch                      {"kind": ..., ...} → {"id": ...}   (kinds below)
    GET  /_fake/messages?channel_id=&include_deleted=1
    GET  /_fake/interactions/{id}
    GET  /_fake/stats
    GET  /_fake/requests?after=<index>
    GET  /_fake/events?after=<seq>&timeout=<s>  long-poll: change events after `seq`
    POST /_fake/reconnect                     {"mode": "reconnect"|"drop"|"invalidate", "code", "duplicate"}
    POST /_fake/time                          {"advance": seconds}
    POST /_fake/exhaust                       {"channel_id": id}
    POST /_fake/storm                         {"count": n, "scope": "user"|"global"}: the next
                                              n message edits are answered 429

Dispatch kinds (fields as the in-process methods of `FakeDiscord`):
    message         channel_id, author, content, mentions_bot, reference,
                    attachments: [{"filename", "content_type", "data_base64"}]
    message_update  message_id, content
    message_delete  message_id
    thread          parent_id, name, owner, message_id, private
    slash_command   name, options, channel_id, user
                    (an attachment option value is {"filename", "data_base64", ...})
    button          message_id, custom_id, user
    dm              user                                  → {"id": dm channel id}
"""

from __future__ import annotations

import base64
import contextlib
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .limits import ApiError
from .model import FakeFile
from .wire import json_response

if TYPE_CHECKING:
    from .server import FakeDiscord


def _file(spec: dict[str, Any]) -> FakeFile:
    data = base64.b64decode(spec.get("data_base64", "")) if "data_base64" in spec else b""
    if "text" in spec:
        data = str(spec["text"]).encode()
    return FakeFile(spec["filename"], data, spec.get("content_type", ""))


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class ControlApi:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_fake/info", self.info),
            web.post("/_fake/dispatch", self.dispatch),
            web.get("/_fake/messages", self.messages),
            web.get("/_fake/interactions/{interaction_id}", self.interaction),
            web.get("/_fake/stats", self.stats),
            web.get("/_fake/requests", self.requests),
            web.get("/_fake/events", self.events),
            web.post("/_fake/reconnect", self.reconnect),
            web.post("/_fake/time", self.time),
            web.post("/_fake/exhaust", self.exhaust),
            web.post("/_fake/storm", self.storm),
        ]

    async def info(self, request: web.Request) -> web.Response:
        fake, world = self.fake, self.fake.world
        guilds = [
            {
                "id": guild.id,
                "name": guild.name,
                "channels": [world.channels[c].as_dict() for c in guild.channel_ids],
            }
            for guild in world.guilds.values()
        ]
        return json_response(
            {
                "base_url": fake.base_url,
                "api_base": fake.api_base,
                "gateway_url": fake.gateway_url,
                "token": fake.token,
                "application_id": fake.application_id,
                "bot": fake.bot.as_dict(),
                "users": [u.as_dict() for u in world.humans],
                "guilds": guilds,
            }
        )

    async def dispatch(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        kind = body.pop("kind", "message")
        try:
            result = await self._dispatch(kind, body)
        except (ApiError, LookupError, ValueError) as exc:
            return json_response({"error": f"{type(exc).__name__}: {exc}"}, 400)
        return json_response({"id": result})

    async def _dispatch(self, kind: str, body: dict[str, Any]) -> int:
        fake = self.fake
        if kind == "message":
            return await fake.dispatch_message(
                _int(body.get("channel_id")),
                body.get("author"),
                body.get("content", ""),
                attachments=[_file(a) for a in body.get("attachments", [])],
                mentions_bot=bool(body.get("mentions_bot")),
                reference=_int(body.get("reference")),
            )
        if kind == "message_update":
            await fake.dispatch_message_update(int(body["message_id"]), body["content"])
            return int(body["message_id"])
        if kind == "message_delete":
            await fake.dispatch_message_delete(int(body["message_id"]))
            return int(body["message_id"])
        if kind == "thread":
            return await fake.create_thread(
                _int(body.get("parent_id")),
                body.get("name", "thread"),
                body.get("owner"),
                message_id=_int(body.get("message_id")),
                private=bool(body.get("private")),
            )
        if kind == "slash_command":
            options = {
                k: _file(v) if isinstance(v, dict) else v
                for k, v in (body.get("options") or {}).items()
            }
            interaction = await fake.dispatch_slash_command(
                body["name"],
                options,
                channel_id=_int(body.get("channel_id")),
                user=body.get("user"),
            )
            return interaction.id
        if kind == "button":
            interaction = await fake.click_button(
                int(body["message_id"]), body["custom_id"], user=body.get("user")
            )
            return interaction.id
        if kind == "dm":
            return fake.open_dm(body.get("user"))
        raise ValueError(f"unknown dispatch kind {kind!r}")

    async def messages(self, request: web.Request) -> web.Response:
        channel_id = _int(request.query.get("channel_id"))
        include_deleted = request.query.get("include_deleted") in ("1", "true")
        found = self.fake.messages(channel_id, include_deleted)
        return json_response([m.as_dict() for m in found])

    async def interaction(self, request: web.Request) -> web.Response:
        found = self.fake.world.interactions.get(int(request.match_info["interaction_id"]))
        if found is None:
            return json_response({"error": "no such interaction"}, 404)
        return json_response(found.as_dict())

    async def stats(self, request: web.Request) -> web.Response:
        return json_response(self.fake.stats().as_dict())

    async def requests(self, request: web.Request) -> web.Response:
        after = int(request.query.get("after", 0))
        return json_response([r.as_dict() for r in self.fake.requests[after:]])

    async def events(self, request: web.Request) -> web.Response:
        world = self.fake.world
        after = int(request.query.get("after", 0))
        timeout = min(float(request.query.get("timeout", 0)), 60.0)
        with contextlib.suppress(TimeoutError):
            await world.wait_for(lambda: world.events_after(after), timeout)
        return json_response(world.events_after(after))

    async def reconnect(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json() if request.can_read_body else {}
        mode = body.get("mode", "reconnect")
        duplicate = int(body.get("duplicate", 0))
        if mode == "drop":
            count = await self.fake.drop_connection(int(body.get("code", 4000)), duplicate)
        elif mode == "invalidate":
            count = await self.fake.invalidate_session(bool(body.get("resumable")))
        else:
            count = await self.fake.force_reconnect(duplicate)
        return json_response({"sessions": count})

    async def time(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        self.fake.advance_time(float(body.get("advance", 0)))
        return json_response({"offset": self.fake.world.clock.offset})

    async def exhaust(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        self.fake.exhaust_channel(int(body["channel_id"]))
        return json_response({"ok": True})

    async def storm(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        scope = body.get("scope", "user")
        if scope not in ("user", "global"):
            return json_response({"message": "scope must be 'user' or 'global'"}, 400)
        self.fake.storm_edits(int(body["count"]), scope)
        return json_response({"ok": True})
