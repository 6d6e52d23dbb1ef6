"""HTTP control API under ``/_fake/`` for driving the fake from another process.

    POST /_fake/event        {"event": {...}} or {"builder": "app_mention", "args": {...}},
                             optional "mode": "socket"|"http", "url", "signature"
                             -> {"event_id"}
    POST /_fake/command      {"command": "/ask", "text": "...", "mode", "url", ...fields}
                             -> {"delivery_id"}
    POST /_fake/interaction  {"payload": {...}} or {"builder": "block_actions", "args"}
                             -> {"delivery_id"}
    POST /_fake/disconnect   {"reason": "refresh_requested"} -> {}
    GET  /_fake/messages?channel=C…[&thread_ts=…][&include_deleted=1] -> {"messages": [...]}
    GET  /_fake/stats        -> request counts, 429 counts, errors, acks, deliveries
    GET  /_fake/requests     -> {"requests": [{"method", "status", "error", "at"}]}
    GET  /_fake/info         -> base_url, tokens, signing secret
    POST /_fake/response/<id>  the ``response_url`` sink (recorded in workspace.responses)

Builders are the methods of :class:`PayloadFactory` (app_mention, message, bot_message,
message_changed, message_deleted, assistant_thread_started,
assistant_thread_context_changed, block_actions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

if TYPE_CHECKING:
    from .events import Mode, Signature
    from .server import SlackFake

__all__ = ["ControlApi"]

EVENT_BUILDERS = frozenset(
    {
        "app_mention",
        "message",
        "bot_message",
        "message_changed",
        "message_deleted",
        "assistant_thread_started",
        "assistant_thread_context_changed",
        "other_event",
    }
)


class ControlApi:
    def __init__(self, fake: SlackFake):
        self._fake = fake

    def add_http_routes(self, app: web.Application) -> None:
        router = app.router
        router.add_post("/_fake/event", self.event)
        router.add_post("/_fake/command", self.command)
        router.add_post("/_fake/interaction", self.interaction)
        router.add_post("/_fake/disconnect", self.disconnect)
        router.add_get("/_fake/messages", self.messages)
        router.add_get("/_fake/stats", self.stats)
        router.add_get("/_fake/requests", self.requests)
        router.add_get("/_fake/info", self.info)
        router.add_post("/_fake/response/{response_id}", self.response_url)

    async def event(self, request: web.Request) -> web.Response:
        body = await request.json()
        event = body.get("event") or self._build(body, EVENT_BUILDERS)
        event_id = await self._fake.send_event(
            event,
            _mode(body),
            url=body.get("url"),
            signature=cast("Signature", body.get("signature", "valid")),
            retries=bool(body.get("retries", True)),
        )
        return web.json_response({"event_id": event_id})

    async def command(self, request: web.Request) -> web.Response:
        body = dict(await request.json())
        mode, url = _mode(body), body.pop("url", None)
        signature = cast("Signature", body.pop("signature", "valid"))
        body.pop("mode", None)
        command = str(body.pop("command", "/ask"))
        text = str(body.pop("text", ""))
        fields = {k: str(v) for k, v in body.items()}
        delivery_id = await self._fake.send_command(
            command, text, mode=mode, url=url, signature=signature, **fields
        )
        return web.json_response({"delivery_id": delivery_id})

    async def interaction(self, request: web.Request) -> web.Response:
        body = await request.json()
        payload = body.get("payload") or self._build(body, frozenset({"block_actions"}))
        delivery_id = await self._fake.send_interaction(payload, _mode(body), url=body.get("url"))
        return web.json_response({"delivery_id": delivery_id})

    async def disconnect(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        await self._fake.disconnect_socket(str(body.get("reason", "refresh_requested")))
        return web.json_response({})

    async def messages(self, request: web.Request) -> web.Response:
        channel = request.query.get("channel")
        if not channel:
            raise web.HTTPBadRequest(text="channel= is required")
        views = self._fake.messages(
            channel,
            request.query.get("thread_ts"),
            include_deleted=request.query.get("include_deleted") in ("1", "true"),
        )
        return web.json_response({"messages": [v.as_json() for v in views]})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(self._fake.stats())

    async def requests(self, request: web.Request) -> web.Response:
        records = [
            {"method": r.method, "status": r.status, "error": r.error, "at": r.at}
            for r in self._fake.requests
        ]
        return web.json_response({"requests": records})

    async def info(self, request: web.Request) -> web.Response:
        fake = self._fake
        return web.json_response(
            {
                "base_url": fake.base_url,
                "bot_token": fake.bot_token,
                "app_token": fake.app_token,
                "signing_secret": fake.signing_secret,
                "team_id": fake.workspace.team_id,
                "bot_user_id": fake.workspace.bot.id,
            }
        )

    async def response_url(self, request: web.Request) -> web.Response:
        """Where ``respond()`` posts; each body is recorded in ``workspace.responses``."""
        body = await request.json()
        self._fake.workspace.responses.append(
            {"response_id": request.match_info["response_id"], **body}
        )
        self._fake.notify_changed()
        return web.Response(text="ok", content_type="text/plain")

    def _build(self, body: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
        name = str(body.get("builder", ""))
        if name not in allowed:
            raise web.HTTPBadRequest(text=f"unknown builder {name!r}; one of {sorted(allowed)}")
        built = getattr(self._fake.payloads, name)(**body.get("args", {}))
        return cast("dict[str, Any]", built)


def _mode(body: dict[str, Any]) -> Mode:
    mode = body.get("mode", "socket")
    if mode not in ("socket", "http"):
        raise web.HTTPBadRequest(text="mode must be 'socket' or 'http'")
    return cast("Mode", mode)
