"""The chat-completion client: ``POST {base_url}/chat/completions`` over httpx.

Timeouts, each configurable (``UPSTREAM__TIMEOUT_*``):
- connect: opening the TCP/TLS connection;
- first token: from sending the request to the first text of the answer;
- idle: the longest silence between two reads of the stream (httpx's read timeout,
  so keep-alive comments count as life).

Retries happen before the first token only (``RetryPolicy``): once the user has
seen text, a failure is raised to the caller, who keeps the partial answer.
Callers that stop reading early should close the stream
(``contextlib.aclosing``); cancelling the reading task closes the HTTP response
at once either way.

Reading pace: the first text is handed over the moment it arrives; after that
a slow stream is read at most every ``UPSTREAM__READ_INTERVAL`` seconds, and
the text that arrived meanwhile comes as one delta. Nobody sees the difference (platforms show edits about once a second), while the process
wakes once per interval instead of once per token: at 50 tokens/s each token
is its own TCP segment, and the wake-up and every step after it cost more than
the token (bench/e2e.py). During the pause the socket is not read at all
(``transport.gathering``), so the kernel holds the segments and one read takes
them. The end of the answer is never held back: the waiting bytes are looked at
(not read) every ``transport.PEEK_EVERY`` seconds, and the pause ends as soon as
they hold a finish reason or ``[DONE]`` (``transport.gather``). A fast stream is never slowed (``GATHER_BELOW``), and neither is a
stream over httpcore, which cannot pause a socket. The pause is real
time, not ``Clock`` time: it paces reads of a real socket, and a fake clock
would not let the bytes arrive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import httpx
import orjson

from bot import wording
from bot.errors import (
    ConfigError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamTruncated,
    UpstreamUnavailable,
)
from bot.ports import Clock, SystemClock
from bot.redact import Redactor
from bot.settings import UpstreamSettings
from bot.upstream.deadline import Deadline
from bot.upstream.failures import (
    connection_closed,
    error_from_body,
    error_from_event,
    error_from_transport,
)
from bot.upstream.parse import EventStream, deltas_from, loads, merged, plain_text, result_from
from bot.upstream.retry import RetryPolicy
from bot.upstream.stream_usage import INCLUDE_USAGE, StreamUsage, refuses_stream_options
from bot.upstream.transport import can_gather, gather
from bot.upstream.transport import transport as pausable_transport
from bot.upstream.types import ChatDelta, ChatRequest, ChatResult

log = logging.getLogger(__name__)

# A read this large means more is waiting (a fast server, an image as a data URL):
# read on at once. Below it the pause caps a stream at 32 KB/s, which then grows
# its reads past this size and stops pausing.
GATHER_BELOW = 8192
_JSON = {"Content-Type": "application/json", "Accept": "application/json"}
_SSE = {
    "Content-Type": "application/json",
    "Accept": "text/event-stream",
    "Cache-Control": "no-store",
}


class UpstreamClient:
    """Implements ``bot.ports.CompletionClient``; own it with ``async with``."""

    def __init__(
        self,
        settings: UpstreamSettings,
        *,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if settings.api_key is None or not settings.api_key.get_secret_value():
            raise ConfigError(wording.missing_api_key())
        self._clock = clock or SystemClock()
        self._policy = policy or RetryPolicy(
            attempts=settings.retry_attempts, max_seconds=settings.retry_max_seconds
        )
        self._first_token_timeout = settings.timeout_first_token
        # An error body may quote the key (OpenAI's invalid_api_key does, masked; a
        # proxy may echo it whole): it is cut from every error before anyone sees it.
        self._redact = Redactor([settings.api_key])
        self._idle_timeout = settings.timeout_idle
        self._read_interval = settings.read_interval
        self._base_url = settings.base_url
        self.stream_usage = StreamUsage()  # does this server take stream_options?
        # Called with every 429 the upstream answers, retried or not: the reply
        # slots back off on them (bot/concurrency.py).
        self.rate_limited: list[Callable[[], None]] = []
        self._http = httpx.AsyncClient(
            # httpx joins relative paths onto the base, so the base keeps its path
            # (".../openai" + "chat/completions") only with a trailing slash.
            base_url=settings.base_url + "/",
            headers={"Authorization": f"Bearer {settings.api_key.get_secret_value()}"},
            timeout=httpx.Timeout(
                connect=settings.timeout_connect,
                read=settings.timeout_idle,
                write=settings.timeout_connect,
                pool=None,
            ),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            transport=transport or pausable_transport(settings.http_transport),
        )

    def __repr__(self) -> str:
        return f"UpstreamClient(base_url={str(self._http.base_url)!r})"

    async def __aenter__(self) -> UpstreamClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- non-streamed ------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ChatResult:
        attempt, waited = 1, 0.0
        deadline = Deadline(self._first_token_timeout)
        while True:
            try:
                return await self._complete_once(request, deadline)
            except UpstreamError as error:
                delay = self._retry_in(error.redact(self._redact), attempt, waited, deadline)
                if delay is None:
                    raise
                _log_retry(error, attempt, delay)
                await self._clock.sleep(delay)
                attempt, waited = attempt + 1, waited + delay
                deadline.spend(delay)

    async def _complete_once(self, request: ChatRequest, deadline: Deadline) -> ChatResult:
        body = orjson.dumps(request.payload(stream=False))
        try:
            with deadline.running():
                async with asyncio.timeout(deadline.left()):
                    response = await self._http.post(
                        "chat/completions", content=body, headers=_JSON
                    )
        except TimeoutError:
            raise _no_first_token(self._first_token_timeout) from None
        except httpx.TransportError as exc:
            raise error_from_transport(exc) from None
        if response.status_code >= 400:
            raise error_from_body(
                response.status_code, response.content, response.headers, str(response.url)
            )
        return result_from(loads(response.content))

    def _retry_in(
        self, error: UpstreamError, attempt: int, waited: float, deadline: Deadline
    ) -> float | None:
        """The policy's delay, if the next try can still start before the first-token
        deadline (``UPSTREAM__TIMEOUT_FIRST_TOKEN`` bounds every try and wait together)."""
        delay = self._policy.delay(error, attempt, waited)
        if delay is None or delay >= deadline.left():
            return None
        return delay

    # -- streamed ----------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatDelta, None]:
        """The answer's deltas as they arrive; see the module docstring for failures.

        Usage is asked for with ``stream_options`` where the server takes it
        (bot/upstream/stream_usage.py)."""
        attempt, waited = 1, 0.0
        deadline = Deadline(self._first_token_timeout)
        include = self.stream_usage.ask(self._base_url)
        probing = False  # asking again without stream_options, after a refusal with it
        while True:
            delivered = reported = False
            try:
                async for delta in self._stream_once(request, deadline, include_usage=include):
                    if probing:  # accepted without it: it was stream_options they refused
                        probing = False
                        self.stream_usage.refused(self._base_url)
                    delivered = delivered or bool(delta.content)
                    reported = reported or delta.usage is not None
                    yield delta
                if include:
                    self.stream_usage.finished(self._base_url, reported=reported)
                return
            except UpstreamBadRequest as error:
                error.redact(self._redact)
                if not include or delivered or not refuses_stream_options(error):
                    raise  # another fault of the request: the server's sentence
                include, probing = False, True
            except UpstreamError as error:
                error.redact(self._redact)
                if isinstance(error, UpstreamRateLimited):
                    for listener in self.rate_limited:
                        listener()
                delay = None if delivered else self._retry_in(error, attempt, waited, deadline)
                if delay is None:
                    raise
                _log_retry(error, attempt, delay)
                await self._clock.sleep(delay)
                attempt, waited = attempt + 1, waited + delay
                deadline.spend(delay)

    async def _stream_once(
        self, request: ChatRequest, deadline: Deadline, *, include_usage: bool = False
    ) -> AsyncIterator[ChatDelta]:
        payload = request.payload(stream=True)
        if include_usage:
            payload["stream_options"] = INCLUDE_USAGE
        body = orjson.dumps(payload)
        http_request = self._http.build_request(
            "POST", "chat/completions", content=body, headers=_SSE
        )
        response: httpx.Response | None = None
        deltas: AsyncIterator[ChatDelta] | None = None
        try:
            # The first-token deadline covers the request and the events before
            # the first text, over every try; it never spans a `yield` (a timeout
            # there would cancel the consumer's own work).
            try:
                with deadline.running():
                    async with asyncio.timeout(deadline.left()):
                        response = await self._http.send(http_request, stream=True)
                        deltas = _deltas(response, self._read_interval)
                        first = await anext(deltas, None)
            except TimeoutError:
                raise _no_first_token(self._first_token_timeout) from None
            except httpx.TransportError as exc:
                raise error_from_transport(exc) from None
            except UpstreamTruncated:
                # Nothing arrived: the server hung up before answering, which is
                # worth another try, and is not "stopped in the middle".
                raise connection_closed("the stream ended before any answer") from None
            if first is None:
                return
            yield first
            try:
                async for delta in deltas:
                    yield delta
            except httpx.ReadTimeout:
                raise UpstreamTruncated(
                    f"no data for {self._idle_timeout:g} s mid-answer", code="truncated"
                ) from None
            except httpx.TransportError as exc:
                raise UpstreamTruncated(
                    f"connection lost mid-answer ({type(exc).__name__})", code="truncated"
                ) from None
        finally:
            if deltas is not None:
                await deltas.aclose()  # type: ignore[attr-defined]
            if response is not None:
                await response.aclose()


async def _deltas(response: httpx.Response, read_interval: float) -> AsyncIterator[ChatDelta]:
    """Decode one response into deltas, checking status, type and the ending."""
    if response.status_code >= 400:
        body = await response.aread()
        raise error_from_body(response.status_code, body, response.headers, str(response.url))
    content_type = response.headers.get("content-type", "").partition(";")[0].strip()
    if content_type == "application/json":
        for delta in await _one_piece(response):
            yield delta
        return
    if content_type != "text/event-stream":
        await response.aread()
        raise UpstreamProtocolError(
            f"HTTP {response.status_code} with {content_type or 'no content type'}, not a stream",
            code="bad_response",
        )
    events = EventStream()
    finished = paused = False
    # Only a transport that can hold the socket's bytes is worth pausing: over one
    # that yields each HTTP chunk on its own (httpcore), a pause per chunk would
    # cap the stream at one token per pause.
    gathers = read_interval > 0 and can_gather(response)
    # Undecoded bytes, unless the server compressed the stream (httpx undoes that).
    encoding = response.headers.get("content-encoding", "").strip().lower()
    chunks = response.aiter_raw() if encoding in ("", "identity") else response.aiter_bytes()
    async for chunk in chunks:
        deltas, done, error = _read_events(events.feed(chunk), join=paused)
        for delta in deltas:
            finished = finished or delta.finish_reason is not None
            yield delta
        if error is not None:
            raise error
        if done:
            return
        paused = gathers and bool(deltas) and not finished and len(chunk) < GATHER_BELOW
        if paused:  # let the next tokens gather (module docstring); never the last ones
            await gather(response, read_interval)
    deltas, done, error = _read_events(events.end(), join=False)
    for delta in deltas:
        finished = finished or delta.finish_reason is not None
        yield delta
    if error is not None:
        raise error
    if not done and not finished:
        raise UpstreamTruncated(
            "the stream ended without [DONE] or a finish reason", code="truncated"
        )


async def _one_piece(response: httpx.Response) -> list[ChatDelta]:
    """The deltas of an answer sent as one JSON body.

    Some compatible servers ignore ``"stream": true`` and answer in one piece:
    each choice becomes one finished delta, and the usage one more.
    """
    result = result_from(loads(await response.aread()))
    deltas = [
        ChatDelta(choice.content, choice.index, choice.finish_reason or "stop")
        for choice in result.choices
    ]
    if result.usage:
        deltas.append(ChatDelta(usage=result.usage))
    return deltas


def _read_events(
    events: list[bytes], *, join: bool
) -> tuple[list[ChatDelta], bool, UpstreamError | None]:
    """The deltas of some events; whether [DONE] came; the failure an event reported.

    ``join``: the events gathered during a pause, and their text comes as one
    delta; otherwise each event is its own delta, as the server sent it. Deltas
    before a failure are kept: the caller hands them over before raising.
    """
    out: list[ChatDelta] = []
    texts: list[str] = []  # joined: plain text not yet in ``out``

    def flush() -> list[ChatDelta]:
        if text := "".join(texts):
            out.append(ChatDelta(text))
        texts.clear()
        return out

    for data in events:
        if data == b"[DONE]":
            return (merged(flush()) if join else out), True, None
        try:
            chunk = loads(data)
            text = plain_text(chunk) if join else None
            if text is not None:
                texts.append(text)
                continue
            flush()
            if isinstance(chunk, dict) and "error" in chunk and not chunk.get("choices"):
                raise error_from_event(chunk)
            out += deltas_from(chunk)
        except UpstreamError as error:
            return (merged(flush()) if join else out), False, error
    return (merged(flush()) if join else out), False, None


def _no_first_token(seconds: float) -> UpstreamUnavailable:
    return UpstreamUnavailable(f"no answer within {seconds:g} s", code="timeout")


def _log_retry(error: UpstreamError, attempt: int, delay: float) -> None:
    extra: dict[str, Any] = {"code": error.code, "status": error.status, "trace_id": error.trace_id}
    log.warning("upstream call failed (%s); retry %d in %.2f s", error, attempt, delay, extra=extra)
