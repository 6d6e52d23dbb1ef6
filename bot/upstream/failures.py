"""Translating HTTP failures into the error tree (``bot.errors``) at the boundary.

Two error bodies exist in the wild: the documented proxy's
``{"success": false, "error": {"code", "message"}, "trace_id"}`` and OpenAI's
``{"error": {"message", "type", "code"}}``. Anything else (an HTML page from a
proxy, an empty body) still becomes a typed error with a readable detail.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import aiohttp
import httpx
import orjson

from bot.errors import (
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamUnavailable,
)


def error_from_body(
    status: int, body: bytes, headers: httpx.Headers, url: str = ""
) -> UpstreamError:
    """The typed error for an HTTP error response to a request for ``url``."""
    code, detail, trace_id = _describe(status, body, headers)
    if status == 404 and "model" not in code:
        # Not an unknown model (OpenAI: 404 model_not_found) but no such endpoint: the
        # base URL lacks /v1, or already ends in /chat/completions.
        return UpstreamBadRequest(
            _without_credentials(url), status=status, code=NO_CHAT_COMPLETIONS, trace_id=trace_id
        )
    common: dict[str, Any] = {"status": status, "code": code, "trace_id": trace_id}
    if status in (401, 403):
        return UpstreamAuthError(detail, **common)
    if status == 429:
        return UpstreamRateLimited(detail, retry_after=retry_after(headers), **common)
    if status >= 500:
        return UpstreamServerError(detail, **common)
    return UpstreamBadRequest(detail, **common)


NO_CHAT_COMPLETIONS = "no_chat_completions"


def _without_credentials(url: str) -> str:
    """The URL as it may be shown: no user, password or query (a key could hide there)."""
    if not url:
        return "…/chat/completions"
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


def error_from_event(payload: dict[str, Any]) -> UpstreamError:
    """An ``{"error": ...}`` object sent as a stream event mid-answer."""
    code, detail, trace_id = _fields(payload)
    return UpstreamServerError(detail, code=code or "api_error", trace_id=trace_id, retryable=False)


def error_from_transport(exc: httpx.TransportError) -> UpstreamError:
    if _refused(exc):
        return UpstreamUnavailable(f"connection failed: {exc}", code="connect_failed")
    if _closed(exc):
        return connection_closed(f"connection closed ({type(exc).__name__})")
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamUnavailable(f"timed out ({type(exc).__name__})", code="timeout")
    if isinstance(exc, httpx.ConnectError):
        return UpstreamUnavailable(f"connection failed: {exc}", code="connect_failed")
    return UpstreamUnavailable(f"connection lost: {type(exc).__name__}", code="connect_failed")


def connection_closed(detail: str) -> UpstreamUnavailable:
    """The server closed the connection before any answer: not a timeout, and worth a retry."""
    return UpstreamUnavailable(detail, code="connection_closed")


def _closed(exc: BaseException) -> bool:
    """The server hung up on an open connection: httpcore says RemoteProtocolError or
    ReadError; httpx-aiohttp turns aiohttp's ServerDisconnectedError into a
    ConnectTimeout, so the cause decides."""
    closed = (
        httpx.RemoteProtocolError,
        httpx.ReadError,
        aiohttp.ServerDisconnectedError,
        aiohttp.ClientPayloadError,
    )
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, closed):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _refused(exc: BaseException) -> bool:
    """A refused or unroutable connection, whatever class the transport gave it
    (httpx-aiohttp reports aiohttp's ClientConnectorError as a ConnectTimeout)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError | httpx.ConnectError):
            return True
        if isinstance(getattr(seen, "os_error", None), ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - time.time())


def _describe(status: int, body: bytes, headers: httpx.Headers) -> tuple[str, str, str | None]:
    header_trace = headers.get("x-trace-id") or headers.get("x-request-id")
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict) and "error" in payload:
        code, detail, trace_id = _fields(payload)
        return code or _code_for_status(status), detail, trace_id or header_trace
    kind = headers.get("content-type", "no content type").partition(";")[0]
    return (
        "bad_response",
        f"HTTP {status} with a body that is not an API error ({kind})",
        header_trace,
    )


def _fields(payload: dict[str, Any]) -> tuple[str, str, str | None]:
    error = payload.get("error")
    trace_id = payload.get("trace_id")
    if isinstance(error, dict):
        code = error.get("code") or error.get("type") or ""
        return str(code), str(error.get("message") or code), trace_id
    return "", str(error), trace_id


def _code_for_status(status: int) -> str:
    return {401: "invalid_token", 429: "too_many_requests"}.get(
        status, "api_error" if status >= 500 else "bad_request"
    )


__all__ = [
    "NO_CHAT_COMPLETIONS",
    "UpstreamProtocolError",
    "connection_closed",
    "error_from_body",
    "error_from_event",
    "error_from_transport",
    "retry_after",
]
