"""What every REST answer goes through: auth, rate limits, errors, the request log.

Rate limits (https://discord.com/developers/docs/topics/rate-limits):
- Global: 50 requests/s per bot; interaction callbacks and interaction webhooks
  are exempt ("Interaction endpoints are not bound to the bot's Global Rate
  Limit"). A 429 carries `"global": true`, X-RateLimit-Global and
  X-RateLimit-Scope: global.
- Per route: a bucket per route and top-level resource (channel, guild,
  webhook). Message create/edit/delete in one channel share one bucket.
  A 429 carries X-RateLimit-Scope: user and the bucket headers.
- Every 429 has Retry-After and the JSON body {"message", "retry_after", "global"}.
- Every answer has `Via: 1.1 google`: discord.py treats a 429 without a Via
  header as a Cloudflare ban and raises instead of retrying (discord/http.py
  `HTTPClient.request`, `if not response.headers.get('Via')`).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from aiohttp import web

from .limits import ApiError, RateLimiter, Verdict
from .rest import API
from .state import RequestRecord, World
from .wire import error_response, json_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
R = TypeVar("R", bound=web.StreamResponse)

_MESSAGE_ROUTES = {
    ("POST", "/channels/{channel_id}/messages"),
    ("PATCH", "/channels/{channel_id}/messages/{message_id}"),
    ("DELETE", "/channels/{channel_id}/messages/{message_id}"),
}
MESSAGE_BUCKET = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"  # one hash: the bucket is shared
_EDIT = "PATCH /channels/{channel_id}/messages/{message_id}"
StormScope = Literal["user", "global"]


@dataclass(frozen=True)
class RouteClass:
    bucket: str
    major: str
    limit: int
    period: float
    needs_auth: bool
    global_exempt: bool


def route_name(request: web.Request) -> str:
    """`METHOD /template` with the /api/v10 prefix removed."""
    resource = request.match_info.route.resource
    template = resource.canonical if resource is not None else request.path
    return f"{request.method} {template.removeprefix(API)}"


def classify(request: web.Request, world: World) -> RouteClass:
    config = world.config
    info = request.match_info
    template = route_name(request).split(" ", 1)[1]
    interaction_route = template.startswith(("/interactions/", "/webhooks/"))
    major = info.get("channel_id") or info.get("guild_id") or ""
    if interaction_route:
        major = f"{info.get('webhook_id') or info.get('interaction_id')}:{info.get('webhook_token') or info.get('token')}"
    if (request.method, template) in _MESSAGE_ROUTES:
        return RouteClass(
            MESSAGE_BUCKET,
            major,
            config.message_bucket_limit,
            config.message_bucket_period,
            True,
            False,
        )
    bucket = hashlib.md5(f"{request.method} {template}".encode()).hexdigest()
    return RouteClass(
        bucket,
        major,
        config.route_bucket_limit,
        config.route_bucket_period,
        not interaction_route and template not in ("/gateway",),
        interaction_route,
    )


class Edge:
    """The aiohttp middleware; also owns the rate limiters."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.routes = RateLimiter()
        self.global_ = RateLimiter()
        # A 429 storm: before each of the next `storm_left` message edits, another
        # process with the bot's token uses up a bucket (`storm_edits`).
        self.storm_left = 0
        self.storm_scope: StormScope = "user"
        # An outage: the next `outage_left` message creates, edits and deletes answer
        # `outage_status` (`outage`).
        self.outage_left = 0
        self.outage_status = 503

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(("/_fake", "/gateway")):
            return await handler(request)
        scope: str | None = None
        try:
            if request.path.startswith(API):
                response, scope = await self._api(request, handler)
            else:
                response = await handler(request)
        except web.HTTPException as exc:  # unmatched routes and methods
            response = json_response(
                {"message": f"{exc.status}: {exc.reason}", "code": 0}, exc.status
            )
        self.world.record_request(
            RequestRecord(
                request.method,
                route_name(request),
                request.path,
                response.status,
                asyncio.get_running_loop().time(),
                scope,
            )
        )
        return response

    async def _api(
        self, request: web.Request, handler: Handler
    ) -> tuple[web.StreamResponse, str | None]:
        config = self.world.config
        route = classify(request, self.world)
        if route.needs_auth and request.headers.get("Authorization") != f"Bot {config.token}":
            return self._with_via(
                json_response({"message": "401: Unauthorized", "code": 0}, 401)
            ), None
        if self.outage_left > 0 and route.bucket == MESSAGE_BUCKET:
            self.outage_left -= 1
            status = self.outage_status
            return json_response(
                {"message": f"{status}: Service Unavailable", "code": 0}, status
            ), None
        if self.storm_left > 0 and route_name(request) == _EDIT:
            self.storm_left -= 1
            if self.storm_scope == "global":
                self.exhaust_global()
            else:
                self.routes.exhaust(route.bucket, route.major, route.limit, route.period)
        if not route.global_exempt:
            verdict = self.global_.take(
                "global", config.token, config.global_limit, config.global_period, "global"
            )
            if not verdict.allowed:
                return self._too_many(verdict), "global"
        verdict = self.routes.take(route.bucket, route.major, route.limit, route.period, "user")
        if not verdict.allowed:
            return self._too_many(verdict), "user"
        try:
            response = await handler(request)
        except ApiError as error:
            response = error_response(error)
        response.headers.update(verdict.headers(time.time()))
        return self._with_via(response), None

    def _too_many(self, verdict: Verdict) -> web.Response:
        response = json_response(verdict.body(), 429)
        response.headers.update(verdict.headers(time.time()))
        response.headers["Retry-After"] = str(max(1, math.ceil(verdict.retry_after)))
        return self._with_via(response)

    @staticmethod
    def _with_via(response: R) -> R:
        response.headers["Via"] = "1.1 google"
        return response

    def storm_edits(self, count: int, scope: StormScope = "user") -> None:
        """Answer the next `count` message edits 429, whatever the bot's pacing: before
        each, the channel's message bucket ("user") or the bot's global one ("global")
        is used up, as another process sharing the token would."""
        self.storm_left, self.storm_scope = count, scope

    def outage(self, count: int, status: int = 503) -> None:
        """The next `count` message creates, edits and deletes answer `status` (0 ends it)."""
        self.outage_left, self.outage_status = count, status

    def exhaust_global(self) -> None:
        """Use up the bot's global window (50 requests/s), as another sender would."""
        config = self.world.config
        self.global_.exhaust("global", config.token, config.global_limit, config.global_period)

    def exhaust_channel(self, channel_id: int) -> None:
        """Use up a channel's message bucket, as another sender with this token would."""
        config = self.world.config
        self.routes.exhaust(
            MESSAGE_BUCKET,
            str(channel_id),
            config.message_bucket_limit,
            config.message_bucket_period,
        )
