"""The ``/api/<method>`` endpoint: argument parsing, auth, rate limits, dispatch, log.

Wire facts (https://docs.slack.dev/apis/web-api/ and slack_sdk/web/internal_utils.py):

- Arguments arrive as query parameters, as ``application/x-www-form-urlencoded`` or
  multipart form fields, or as a JSON body. slack_sdk's AsyncWebClient sends JSON for
  chat.* (blocks) and query/form parameters for the rest, so all three are merged.
- The token travels as ``Authorization: Bearer xoxb-…``; a ``token`` form/query field is
  accepted too, but not inside a JSON body ("JSON-encoded bodies" docs: the token must be
  in the header). Missing → ``not_authed``; unknown → ``invalid_auth``; an app-level
  ``xapp-`` token on a bot method (or the reverse) → ``not_allowed_token_type``.
- Errors are HTTP 200 with ``{"ok": false, "error": "<code>"}``; only rate limiting is
  HTTP 429, with ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``.
- Responses are ``application/json; charset=utf-8``.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from .limits import RateLimiter
from .state import Json

__all__ = ["ApiCall", "ApiError", "Handler", "RequestLog", "RequestRecord", "WebApi"]

TokenKind = Literal["bot", "app"]
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
# Called with the app's client id and secret, no token.
NO_TOKEN_METHODS = frozenset({"oauth.v2.access"})


class ApiError(Exception):
    """A Web API error answer: ``{"ok": false, "error": code, **extra}``."""

    def __init__(self, error: str, **extra: Any):
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass(slots=True)
class ApiCall:
    """One Web API call, its arguments merged from query, form and JSON."""

    method: str
    args: dict[str, Any]
    token_kind: TokenKind
    token: str = ""  # which workspace's bot speaks (Workspace.bot_for)

    def text(self, name: str, *, required: bool = False, error: str = "invalid_arguments") -> str:
        value = self.args.get(name)
        if value is None or value == "":
            if required:
                raise ApiError(error)
            return ""
        return str(value)

    def optional(self, name: str) -> str | None:
        value = self.args.get(name)
        return None if value in (None, "") else str(value)

    def structured(self, name: str) -> Any:
        """A JSON-valued argument: already parsed (JSON body) or a JSON string (form)."""
        value = self.args.get(name)
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ApiError(
                    "invalid_blocks_format" if name == "blocks" else "invalid_arguments"
                ) from exc
        return value


Handler = Callable[[ApiCall], Awaitable[Json]]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    method: str
    status: int
    ok: bool
    error: str | None
    at: float  # time.monotonic()
    args: Mapping[str, Any]


@dataclass(slots=True)
class RequestLog:
    """Every Web API call the fake answered, and the 429s per method."""

    records: list[RequestRecord] = field(default_factory=list)
    rate_limited: Counter[str] = field(default_factory=Counter)

    def calls(self, method: str) -> list[RequestRecord]:
        return [r for r in self.records if r.method == method]

    def stats(self) -> Json:
        by_method = Counter(r.method for r in self.records)
        errors = Counter(f"{r.method}:{r.error}" for r in self.records if r.error)
        return {
            "requests": dict(by_method),
            "rate_limited": dict(self.rate_limited),
            "errors": dict(errors),
            "total": len(self.records),
        }


class WebApi:
    """Routes ``/api/{method}`` to handlers after auth and rate limiting."""

    def __init__(
        self,
        *,
        bot_token: str,
        app_token: str,
        limiter: RateLimiter,
        log: RequestLog,
        on_change: Callable[[], None],
        workspace: str = "",
    ):
        self._tokens: dict[str, TokenKind] = {bot_token: "bot", app_token: "app"}
        # The workspace these tokens belong to: tiers count per method per workspace.
        self._workspace = workspace
        self._limiter = limiter
        self._log = log
        self._on_change = on_change
        self.handlers: dict[str, Handler] = {}
        # Bot tokens OAuth installs issued (oauth.py): token -> their team, whose tiers they spend.
        self.bot_tokens: dict[str, str] = {}
        # Called with each call's record and answer body as it is answered (benches
        # note when text became visible; tests may ignore it).
        self.observers: list[Callable[[RequestRecord, Json], None]] = []
        # An outage: the next ``outage_left`` calls of methods starting with
        # ``outage_prefix`` answer HTTP 500 ``internal_error`` (``SlackFake.outage``).
        self.outage_prefix = ""
        self.outage_left = 0

    def add(self, handlers: Mapping[str, Handler]) -> None:
        self.handlers.update(handlers)

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            args, body_token = await _read_args(request)
        except ValueError:
            return self._finish(method, {}, 200, {"ok": False, "error": "invalid_json"})
        token = _bearer(request) or body_token
        if method in NO_TOKEN_METHODS:  # the client's id and secret instead (oauth.py)
            args |= _basic(request)
            token = None
        try:
            kind = "bot" if method in NO_TOKEN_METHODS else self._authorize(method, token)
            call = ApiCall(method, args, kind, token or "")
            if self.outage_left > 0 and method.startswith(self.outage_prefix):
                self.outage_left -= 1
                return self._finish(method, args, 500, {"ok": False, "error": "internal_error"})
            team = self.bot_tokens.get(token or "", self._workspace)
            retry_after = self._limiter.acquire(method, call.optional("channel"), team)
            if retry_after is not None:
                return self._finish(
                    method, args, 429, {"ok": False, "error": "ratelimited"}, retry_after
                )
            handler = self.handlers.get(method)
            if handler is None:
                raise ApiError("unknown_method")
            body = await handler(call)
        except ApiError as exc:
            return self._finish(method, args, 200, {"ok": False, "error": exc.error, **exc.extra})
        return self._finish(method, args, 200, {"ok": True, **body})

    def _authorize(self, method: str, token: str | None) -> TokenKind:
        if not token:
            raise ApiError("not_authed")
        kind = self._tokens.get(token)
        if kind is None and token in self.bot_tokens:
            kind = "bot"
        if kind is None:
            raise ApiError("invalid_auth")
        wanted: TokenKind = "app" if method in APP_TOKEN_METHODS else "bot"
        if kind != wanted:
            raise ApiError("not_allowed_token_type")
        return kind

    def _finish(
        self,
        method: str,
        args: Mapping[str, Any],
        status: int,
        body: Json,
        retry_after: int | None = None,
    ) -> web.Response:
        if status == 429:
            self._log.rate_limited[method] += 1
        error = None if body.get("ok") else str(body.get("error"))
        record = RequestRecord(method, status, bool(body.get("ok")), error, time.monotonic(), args)
        self._log.records.append(record)
        for observer in self.observers:
            observer(record, body)
        self._on_change()
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.json_response(body, status=status, headers=headers)


async def _read_args(request: web.Request) -> tuple[dict[str, Any], str | None]:
    """Merge query, form and JSON arguments; return them and any body/query token."""
    args: dict[str, Any] = dict(request.query)
    token = args.pop("token", None)
    if request.can_read_body:
        if request.content_type == "application/json":
            raw = await request.text()
            parsed = json.loads(raw) if raw.strip() else {}
            if isinstance(parsed, dict):
                parsed.pop("token", None)  # not honoured in JSON bodies
                args.update(parsed)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, str):
                    args[key] = value
            form_token = args.pop("token", None)
            token = token or form_token
    return args, token


def _basic(request: web.Request) -> dict[str, str]:
    """``client_id`` and ``client_secret`` from HTTP Basic auth (slack_sdk's way)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return {}
    try:
        client_id, _, secret = base64.b64decode(value.strip()).decode().partition(":")
    except ValueError:
        return {}
    return {"client_id": client_id, "client_secret": secret}


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
