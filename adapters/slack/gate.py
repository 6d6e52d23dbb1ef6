"""The HTTP-mode door: Slack's signature checked before Bolt sees a request.

``POST /slack/events`` is public. Bolt checks signatures too, but logs the whole
body of every request it refuses at INFO (``RequestVerification._debug_log_error``
in slack_bolt 1.30), answers a non-numeric ``X-Slack-Request-Timestamp`` with a 500
and a traceback (slack_sdk's ``SignatureVerifier.is_valid`` calls ``int()`` on it),
and parses the body before checking it. So an outsider could fill the disk, 1 MiB
of log a request, with text of their choosing.

Here a request is refused with 401 before its body is read when the timestamp is
not a number within five minutes or the signature is not ``v0=`` and 64 hex
digits; a body longer than ``MAX_BODY_BYTES`` is refused with 413 while reading;
then the HMAC is checked as Slack documents it
(https://docs.slack.dev/authentication/verifying-requests-from-slack). Refusals
are counted and logged in one line a minute at most, naming no content.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.ports import Clock

__all__ = ["FRESH_SECONDS", "MAX_BODY_BYTES", "REPORT_EVERY", "Refusals", "events_runner"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# aiohttp's default request cap, which Bolt's own server keeps; a Slack event (40,000
# characters of text at most, with its blocks) or command fits well inside it.
MAX_BODY_BYTES = 1024**2
# "more than five minutes from local time": Slack's replay window (doc above).
FRESH_SECONDS = 5 * 60
REPORT_EVERY = 60.0  # seconds between two log lines about refused requests
SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
TIMESTAMP = re.compile(r"[0-9]{1,12}")
# Bolt's verification logger: its INFO line carries the refused request's body.
BOLT_VERIFICATION_LOGGER = "slack_bolt.AsyncRequestVerification"


class Refusals:
    """Counts refused requests; logs one line per ``REPORT_EVERY`` seconds at most.

    An outsider decides how many requests arrive, not how much is logged.
    """

    def __init__(self, clock: Clock, every: float = REPORT_EVERY) -> None:
        self._clock = clock
        self._every = every
        self._counts: Counter[str] = Counter()
        self._last: float | None = None

    def refused(self, reason: str) -> None:
        self._counts[reason] += 1
        now = self._clock.monotonic()
        if self._last is not None and now - self._last < self._every:
            return
        self._last = now
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(self._counts.items()))
        log.warning(
            "refused %d unauthenticated Slack request(s) since the last report (%s); "
            "if Slack's own are among them, check SLACK_SIGNING_SECRET",
            self._counts.total(),
            reasons,
        )
        self._counts.clear()


def events_runner(bolt: AsyncApp, path: str, secret: str, clock: Clock) -> web.AppRunner:
    """The aiohttp server for ``path``: the door, then Bolt's dispatch. No access log;
    a request aiohttp cannot parse counts as a refusal instead of a logged traceback."""
    refusals = Refusals(clock)
    app = _events_app(bolt, path, secret, refusals)
    return web.AppRunner(app, access_log=None, logger=_ServerLog(refusals))


def _events_app(bolt: AsyncApp, path: str, secret: str, refusals: Refusals) -> web.Application:
    _quiet_bolt_verification()

    @web.middleware
    async def signed(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "POST":
            return await handler(request)
        reason = await _unsigned(request, secret.encode())
        if reason is None:
            return await handler(request)
        refusals.refused(reason)
        if reason == "too large":
            return web.json_response({"error": "request too large"}, status=413)
        return web.json_response({"error": "invalid request"}, status=401)

    async def dispatch(request: web.Request) -> web.StreamResponse:
        response = await bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[signed, _readable_bodies])
    app.router.add_post(path, dispatch)
    flow = bolt.oauth_flow
    if flow is not None:  # distributed: a browser's GETs, no Slack signature (installs.py)

        async def install(request: web.Request) -> web.StreamResponse:
            response = await flow.handle_installation(await to_bolt_request(request))
            return await to_aiohttp_response(response)

        async def callback(request: web.Request) -> web.StreamResponse:
            response = await flow.handle_callback(await to_bolt_request(request))
            return await to_aiohttp_response(response)

        app.router.add_get(flow.install_path, install)
        app.router.add_get(flow.redirect_uri_path, callback)
    return app


async def _unsigned(request: web.Request, secret: bytes) -> str | None:
    """Why the request is not Slack's, or None when its signature holds."""
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not timestamp and not signature:
        return "without a signature"
    if TIMESTAMP.fullmatch(timestamp) is None or SIGNATURE.fullmatch(signature) is None:
        return "with a malformed signature"
    if abs(time.time() - int(timestamp)) > FRESH_SECONDS:
        return "with a stale timestamp"
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return "too large"
    try:
        body = await request.read()  # cached: Bolt reads the same bytes
    except web.HTTPRequestEntityTooLarge:
        return "too large"
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "with a wrong signature"
    return None


class _ServerLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server log. aiohttp logs a request it cannot parse as HTTP (a bad
    header, a line over 8 KiB) at ERROR with a traceback: anyone could send those by
    the thousand. They are counted with the refusals; anything else is logged."""

    def __init__(self, refusals: Refusals) -> None:
        super().__init__(logging.getLogger("aiohttp.server"))
        self._refusals = refusals

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if isinstance(error, HttpProcessingError):
            self._refusals.refused("unreadable as HTTP")
            return
        super().log(level, msg, *args, **kwargs)


class _DropAll(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


def _quiet_bolt_verification() -> None:
    """Bolt checks the signature again after the door; should it ever refuse one the
    door let through (a timestamp turning stale in between), its line with the body
    is dropped."""
    bolt_log = logging.getLogger(BOLT_VERIFICATION_LOGGER)
    if not any(isinstance(f, _DropAll) for f in bolt_log.filters):
        bolt_log.addFilter(_DropAll())


@web.middleware
async def _readable_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer 400 to a signed request Bolt cannot read.

    Bolt parses the body and looks into it (ids, types, the event) and raises on what
    it does not expect: a body that is not UTF-8, not a JSON object or a form, a field
    of another type. Unchecked, that is a 500 and an error in the log.
    """
    if request.method == "POST" and not await _readable(request):
        log.info("refused a request to %s: its body is not a Slack payload", request.path)
        return web.Response(status=400, text="the body is not a Slack payload")
    return await handler(request)


ASSISTANT_THREAD_EVENTS = ("assistant_thread_started", "assistant_thread_context_changed")


async def _readable(request: web.Request) -> bool:
    try:
        body = (await to_bolt_request(request)).body
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):
        return False  # UnicodeDecodeError and JSONDecodeError are ValueErrors
    # Bolt's middleware reads the event, and an assistant thread in it, with ``.get``.
    event = body.get("event", {})
    if not isinstance(event, dict) or not isinstance(event.get("assistant_thread", {}), dict):
        return False
    if event.get("type") in ASSISTANT_THREAD_EVENTS:
        # Bolt's assistant utilities take the thread's channel and ts from it, else raise.
        thread = event.get("assistant_thread", {})
        return thread.get("channel_id") is not None and thread.get("thread_ts") is not None
    return True
