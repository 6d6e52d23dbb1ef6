"""A loopback chat-completion server that answers like the documented API.

It replays the docs' exact payloads (``seeds.py``) for the documented requests,
generates seed-shaped answers for any other prompt at a configurable token rate,
and injects every fault on request: documented error bodies with ``Retry-After``,
OpenAI-shaped errors, an HTML page from a proxy, a disconnect, a stall, a
malformed line, a missing ``[DONE]``, an error event mid-stream.

Drive it in-process (``fake.fail_next(Fault(...))``, ``fake.answer = Answer(...)``)
or over HTTP from another process (``POST /_fake/fail``, ``POST /_fake/answer``,
``GET /_fake/stats``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from aiohttp import web

from tests.fakes.upstream import seeds

# Seconds a held stream waits for the others (``FakeUpstream.hold_streams``).
HOLD_TIMEOUT = 10.0

FaultKind = Literal[
    "error",  # the documented {"success": false, ...} body with the code's status
    "openai_error",  # OpenAI's {"error": {"message", "type", "code"}} body
    "html",  # a proxy's HTML error page
    "disconnect",  # drop the connection after `after_chunks` chunks
    "stall",  # stop sending for `seconds` after `after_chunks` chunks
    "malformed",  # a `data:` line that is not JSON after `after_chunks` chunks
    "no_done",  # end the stream cleanly with neither finish_reason nor [DONE]
    "error_event",  # an {"error": ...} event mid-stream after `after_chunks` chunks
]


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    code: str = "api_error"
    status: int | None = None
    message: str | None = None
    retry_after: float | None = None
    after_chunks: int = 0
    seconds: float = 30.0
    trace_id: str = seeds.ERROR_TRACE_ID


@dataclass(frozen=True)
class Answer:
    """How generated (non-seed) answers look.

    ``text=None`` echoes the last user message (``You said: ...``), which lets
    tests check order and content; ``tokens`` > 0 instead sends that many
    ``tok `` tokens (the benchmarks' load).
    """

    text: str | None = None
    tokens: int = 0
    pieces: tuple[str, ...] = ()  # the content deltas exactly, when set (overrides text)
    tokens_per_s: float = 0.0  # 0 = as fast as the socket takes them
    first_token_delay: float = 0.0
    finish_in_delta: bool = True  # the seed's quirk; False = OpenAI's choice-level field
    usage_chunk: bool = False  # a final {"choices": [], "usage": ...} chunk
    keepalive: bool = False  # ": keep-alive" comments and blank lines between chunks
    write_batch: int = 64  # chunks per socket write when unthrottled
    include_usage: bool = True  # False: a non-streamed result without "usage"
    stream_as_json: bool = False  # answer a stream request in one JSON piece
    # What the server does with stream_options {"include_usage": true}: "ignore" (the
    # documented API's streams carry no usage), "honour" (OpenAI: a last chunk with
    # empty choices and the usage), "refuse" (400 for a field it does not know).
    stream_options: Literal["ignore", "honour", "refuse"] = "ignore"


@dataclass
class StreamTiming:
    """When one streamed answer was asked for and when its tokens went out (loop time)."""

    prompt: str
    requested: float
    first_token: float | None = None
    last_token: float | None = None


@dataclass
class Stats:
    requests: int = 0
    streams_started: int = 0
    streams_completed: int = 0
    client_disconnects: int = 0
    faults_served: int = 0
    max_concurrent_streams: int = 0


class FakeUpstream:
    def __init__(
        self,
        *,
        api_key: str = seeds.API_KEY,
        answer: Answer | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        prefix: str = "/openai",
    ) -> None:
        self.api_key = api_key
        self.answer = answer or Answer()
        self.host = host
        self.port = port
        self.prefix = prefix
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.timings: list[StreamTiming] = []
        self.stats = Stats()
        self._faults: deque[Fault] = deque()
        self.missing_files: set[str] = set()  # /cdn/ paths answered 404
        self._runner: web.AppRunner | None = None
        self._stream_done = asyncio.Condition()
        self._barrier: asyncio.Barrier | None = None

    # -- lifecycle ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}{self.prefix}"

    async def start(self) -> FakeUpstream:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(f"{self.prefix}/chat/completions", self._completions)
        app.router.add_post("/_fake/fail", self._control_fail)
        app.router.add_post("/_fake/answer", self._control_answer)
        app.router.add_get("/_fake/stats", self._control_stats)
        app.router.add_get("/_fake/requests", self._control_requests)
        # The files a gpt-4o-image answer links to, served here (filesystem.site's shape).
        app.router.add_get("/cdn/{path:.*}", self._serve_file)
        # Any other path is a 404 as OpenAI answers it (a base URL without /v1, or one
        # already ending in /chat/completions).
        app.router.add_post("/{path:.*}", self._no_such_path)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.1
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeUpstream:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- control -----------------------------------------------------------------

    def hold_streams(self, parties: int) -> None:
        """Hold every stream before its first token until ``parties`` streams are open at
        once: overlap by construction, not by timing. A stream still waiting after
        ``HOLD_TIMEOUT`` gives up (the barrier breaks), so a test that never gets
        ``parties`` streams fails on its assertions instead of hanging."""
        self._barrier = asyncio.Barrier(parties)

    def fail_next(self, fault: Fault, times: int = 1) -> None:
        """Serve ``fault`` to the next ``times`` requests."""
        self._faults.extend([fault] * times)

    async def wait_streams_completed(self, count: int, within: float = 5.0) -> None:
        async with asyncio.timeout(within), self._stream_done:
            await self._stream_done.wait_for(
                lambda: self.stats.streams_completed + self.stats.client_disconnects >= count
            )

    async def _control_fail(self, request: web.Request) -> web.Response:
        body = await request.json()
        times = int(body.pop("times", 1))
        self.fail_next(Fault(**body), times)
        return web.json_response({"ok": True})

    async def _control_answer(self, request: web.Request) -> web.Response:
        self.answer = replace(self.answer, **await request.json())
        return web.json_response(asdict(self.answer))

    async def _control_stats(self, request: web.Request) -> web.Response:
        return web.json_response(asdict(self.stats))

    async def _control_requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.requests)

    async def _no_such_path(self, request: web.Request) -> web.Response:
        self.stats.requests += 1
        self.paths.append(request.path)
        message = f"Invalid URL (POST {request.path})"
        body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
        return web.json_response(body, status=404)

    async def _serve_file(self, request: web.Request) -> web.Response:
        if request.match_info["path"] in self.missing_files:
            return web.Response(status=404)
        return web.Response(body=seeds.TINY_PNG, content_type="image/png")

    def parts(self, request: int = -1) -> list[dict[str, Any]]:
        """The non-text content parts of one received request, in order."""
        return [
            part
            for message in self.requests[request].get("messages") or []
            if isinstance(message.get("content"), list)
            for part in message["content"]
            if part.get("type") != "text"
        ]

    def _local(self, result: dict[str, Any]) -> dict[str, Any]:
        """``result`` with the image host pointing at this fake (same text otherwise)."""
        content = result["choices"][0]["message"]["content"]
        local = content.replace(seeds.IMAGE_HOST, f"http://{self.host}:{self.port}")
        choice = {**result["choices"][0], "message": {"role": "assistant", "content": local}}
        return {**result, "choices": [choice]}

    # -- the API -----------------------------------------------------------------

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        self.stats.requests += 1
        self.paths.append(request.path)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            status, message = seeds.DOCUMENTED_ERRORS["invalid_token"]
            return web.json_response(seeds.error_body("invalid_token", message), status=status)
        try:
            payload = await request.json()
        except json.JSONDecodeError:
            return web.json_response(
                seeds.error_body("token_mismatched", "request body is not JSON"), status=400
            )
        self.requests.append(payload)
        problem = _invalid_parts(payload)
        if problem is None and (refused := _parameter_problem(payload, self.answer)) is not None:
            body = {"error": {"message": refused, "type": "invalid_request_error", "code": None}}
            return web.json_response(body, status=400)
        if problem is not None:
            return web.json_response(seeds.error_body("token_mismatched", problem), status=400)
        fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            self.stats.faults_served += 1
            refused = _refusal(fault)
            if refused is not None:
                return refused
        if payload.get("stream") and not self.answer.stream_as_json:
            return await self._stream(request, payload, fault)
        result = _result_for(payload, self.answer)
        if payload.get("model") == "gpt-4o-image":
            result = self._local(result)
        return web.json_response(result)

    async def _stream(
        self, request: web.Request, payload: dict[str, Any], fault: Fault | None
    ) -> web.StreamResponse:
        answer = self.answer
        timing = StreamTiming(_last_user_text(payload), asyncio.get_running_loop().time())
        self.timings.append(timing)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        self.stats.streams_started += 1
        in_flight = self.stats.streams_started - self.stats.streams_completed
        in_flight -= self.stats.client_disconnects
        self.stats.max_concurrent_streams = max(self.stats.max_concurrent_streams, in_flight)
        await self._hold()
        try:
            await _write_stream(
                response, _chunks_for(payload, answer, self._local), answer, fault, request, timing
            )
            await response.write_eof()
        except _Dropped:
            return response
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            self.stats.client_disconnects += 1
            await self._notify()
            raise
        self.stats.streams_completed += 1
        await self._notify()
        return response

    async def _hold(self) -> None:
        if self._barrier is None:
            return
        try:
            async with asyncio.timeout(HOLD_TIMEOUT):
                await self._barrier.wait()
        except (TimeoutError, asyncio.BrokenBarrierError):
            await self._barrier.abort()

    async def _notify(self) -> None:
        async with self._stream_done:
            self._stream_done.notify_all()


class _Dropped(Exception):
    """The fake cut the connection on purpose (a ``disconnect`` fault)."""


def _refusal(fault: Fault) -> web.Response | None:
    """The response for faults that refuse the request outright, else None."""
    if fault.kind == "error":
        status, message = seeds.DOCUMENTED_ERRORS.get(fault.code, (500, "fetch failed"))
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        body = seeds.error_body(fault.code, fault.message or message, fault.trace_id)
        return web.json_response(body, status=fault.status or status, headers=headers)
    if fault.kind == "openai_error":
        body = {
            "error": {
                "message": fault.message or "The model does not exist.",
                "type": "invalid_request_error",
                "code": fault.code,
            }
        }
        return web.json_response(body, status=fault.status or 404)
    if fault.kind == "html":
        page = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
        return web.Response(text=page, status=fault.status or 502, content_type="text/html")
    return None


# -- answers -----------------------------------------------------------------------


def _last_user_text(payload: dict[str, Any]) -> str:
    for message in reversed(payload.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return " ".join(p.get("text", "") for p in content or [] if p.get("type") == "text")
    return ""


def _invalid_parts(payload: dict[str, Any]) -> str | None:
    """Why the request's content parts are not what the API takes, or None.

    image_url parts carry a data: URL (base64 image) or an http(s) URL, for the
    vision models; gpt-4o-image takes its input images as file_url parts (the
    API docs' gpt-4o-image example) and refuses image_url.
    """
    image_model = payload.get("model") == "gpt-4o-image"
    for message in payload.get("messages") or []:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            kind = part.get("type")
            if kind == "text":
                continue
            if kind not in ("image_url", "file_url"):
                return f"unknown content part type {kind!r}"
            if (kind == "file_url") != image_model:
                return f"{kind} parts are not taken by {payload.get('model')}"
            url = str((part.get(kind) or {}).get("url", ""))
            if not (url.startswith(("http://", "https://")) or _is_data_url(url)):
                return f"{kind} url is neither http(s) nor a base64 data: URL"
    return None


def _is_data_url(url: str) -> bool:
    head, _, body = url.partition(",")
    if not (head.startswith("data:image/") and head.endswith(";base64") and body):
        return False
    try:
        base64.b64decode(body, validate=True)
    except binascii.Error:
        return False
    return True


def _has_image(payload: dict[str, Any]) -> bool:
    for message in payload.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list) and any(p.get("type") == "image_url" for p in content):
            return True
    return False


def _generated_tokens(payload: dict[str, Any], answer: Answer, index: int = 0) -> list[str]:
    """Choice ``index``'s tokens, cut at ``max_tokens`` as a real server cuts them
    (one piece counts as one token here)."""
    if answer.tokens:
        tokens = ["tok "] * answer.tokens
    elif answer.pieces:
        tokens = list(answer.pieces)
    else:
        words = _generated_text(payload, answer, index).split(" ")
        tokens = [words[0], *(" " + word for word in words[1:])]
    limit = payload.get("max_tokens")
    return tokens[:limit] if isinstance(limit, int) else tokens


def _generated_text(payload: dict[str, Any], answer: Answer, index: int) -> str:
    """The echo answer: ``You said: …``; as a JSON object when ``response_format`` asks
    for one; candidates after the first say which they are (``n`` gives distinct ones)."""
    if answer.text is not None:
        return answer.text
    said = _last_user_text(payload)
    if (payload.get("response_format") or {}).get("type") == "json_object":
        reply: dict[str, Any] = {"you_said": said}
        if index:
            reply["candidate"] = index + 1
        return json.dumps(reply)
    return f"You said: {said}" + (f" (candidate {index + 1})" if index else "")


def _finish(payload: dict[str, Any], tokens: list[str], answer: Answer) -> str:
    """``length`` when ``max_tokens`` cut the answer, else ``stop``."""
    limit = payload.get("max_tokens")
    if isinstance(limit, int) and not answer.pieces and len(tokens) == limit:
        return "length"
    return "stop"


def _parameter_problem(payload: dict[str, Any], answer: Answer) -> str | None:
    """What OpenAI answers 400 for among the common optional parameters, or None."""
    if "stream_options" in payload and answer.stream_options == "refuse":
        return "Unrecognized request argument supplied: stream_options"
    temperature = payload.get("temperature")
    if temperature is not None and not (
        isinstance(temperature, int | float) and 0 <= temperature <= 2
    ):
        return f"{temperature} is greater than the maximum of 2 - 'temperature'"
    n = payload.get("n")
    if n is not None and not (isinstance(n, int) and n >= 1):
        return f"{n} is less than the minimum of 1 - 'n'"
    max_tokens = payload.get("max_tokens")
    if max_tokens is not None and not (isinstance(max_tokens, int) and max_tokens >= 1):
        return f"{max_tokens} is less than the minimum of 1 - 'max_tokens'"
    kind = (payload.get("response_format") or {"type": "text"}).get("type")
    if kind not in ("text", "json_object", "json_schema"):
        return f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object'"
    if kind == "json_object" and "json" not in json.dumps(payload.get("messages")).lower():
        return (
            "'messages' must contain the word 'json' in some form, to use 'response_format' "
            "of type 'json_object'."
        )
    if payload.get("stream_options") is not None and not payload.get("stream"):
        return "The 'stream_options' parameter is only allowed when 'stream' is enabled."
    return None


def _seed_result(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The documented result for a documented request, if this is one."""
    if payload.get("model") == "gpt-4o-image":
        return seeds.IMAGE_RESULT
    if payload.get("messages") == seeds.MULTI_TURN_MESSAGES:
        return seeds.MULTI_TURN_RESULT
    if _has_image(payload):
        return seeds.VISION_RESULT
    if _last_user_text(payload) == "hello" and payload.get("model") == "gpt-4":
        return seeds.BASIC_RESULT
    return None


def _result_for(payload: dict[str, Any], answer: Answer) -> dict[str, Any]:
    seeded = _seed_result(payload)
    if seeded is not None:
        return seeded
    n = int(payload.get("n") or 1)
    candidates = [_generated_tokens(payload, answer, i) for i in range(n)]
    result = dict(seeds.BASIC_RESULT)
    result["model"] = payload.get("model", "gpt-4")
    result["choices"] = [
        {
            "index": i,
            "message": {"role": "assistant", "content": "".join(tokens)},
            "finish_reason": _finish(payload, tokens, answer),
        }
        for i, tokens in enumerate(candidates)
    ]
    completion = sum(len(tokens) for tokens in candidates)
    result["usage"] = {"prompt_tokens": 10, "completion_tokens": completion}
    result["usage"]["total_tokens"] = 10 + result["usage"]["completion_tokens"]
    if not answer.include_usage:
        del result["usage"]
    return result


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


def _chunks_for(
    payload: dict[str, Any],
    answer: Answer,
    local: Callable[[dict[str, Any]], dict[str, Any]] = lambda result: result,
) -> list[bytes]:
    """The SSE events of a streamed answer, seed-shaped."""
    if _last_user_text(payload) == "hello" and payload.get("model") == "gpt-4":
        return [_sse(chunk) for chunk in seeds.STREAM_CHUNKS]
    seeded = _seed_result(payload)
    if seeded is not None and payload.get("model") == "gpt-4o-image":
        seeded = local(seeded)
    n = int(payload.get("n") or 1)
    if seeded is not None:
        content = seeded["choices"][0]["message"]["content"]
        candidates = [[content[i : i + 8] for i in range(0, len(content), 8)]] * n
    else:
        candidates = [_generated_tokens(payload, answer, i) for i in range(n)]
    model = str(payload.get("model", "gpt-4"))
    base = {"created": 1721007348, "id": "chatcmpl-fake", "model": model}
    base |= {"object": "chat.completion.chunk", "recipient": "all"}
    cache: dict[tuple[str, int], bytes] = {}

    def content_chunk(token: str, index: int) -> bytes:
        key = (token, index)
        if key not in cache:
            delta = {"content": token, "role": "assistant"}
            cache[key] = _sse({"choices": [{"delta": delta, "index": index}], **base})
        return cache[key]

    events = [
        _sse({"choices": [{"delta": {"role": "assistant"}, "index": i}], **base}) for i in range(n)
    ]
    # Choices interleave by index, token by token, as OpenAI streams them.
    events += [
        content_chunk(tokens[position], i)
        for position in range(max(len(tokens) for tokens in candidates))
        for i, tokens in enumerate(candidates)
        if position < len(tokens)
    ]
    for i, tokens in enumerate(candidates):
        reason = "stop" if seeded is not None else _finish(payload, tokens, answer)
        if answer.finish_in_delta:
            choice: dict[str, Any] = {
                "delta": {"role": "assistant", "finish_reason": reason, "index": i}
            }
        else:
            choice = {"delta": {}, "index": i, "finish_reason": reason}
        events.append(_sse({"choices": [choice], **base}))
    asked = (payload.get("stream_options") or {}).get("include_usage") is True
    if answer.usage_chunk or (asked and answer.stream_options == "honour"):
        completion = sum(len(tokens) for tokens in candidates)
        usage = {
            "prompt_tokens": 10,
            "completion_tokens": completion,
            "total_tokens": 10 + completion,
        }
        events.append(_sse({"choices": [], "usage": usage, **base}))
    events.append(b"data: [DONE]\n\n")
    return events


async def _write_stream(
    response: web.StreamResponse,
    events: list[bytes],
    answer: Answer,
    fault: Fault | None,
    request: web.Request,
    timing: StreamTiming,
) -> None:
    loop = asyncio.get_running_loop()
    if answer.first_token_delay:
        await asyncio.sleep(answer.first_token_delay)
    if answer.keepalive:
        await response.write(b": keep-alive\n\n\n")
    start = loop.time()
    pending = bytearray()
    for sent, event in enumerate(events):
        if (
            fault is not None
            and sent == fault.after_chunks
            and await _mid_stream_fault(response, fault, request, pending)
        ):
            return
        if answer.tokens_per_s:
            delay = start + sent / answer.tokens_per_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await response.write(event + (b": keep-alive\n\n" if answer.keepalive else b""))
            if sent == 1:  # events[0] is the role-only chunk; events[1] the first token
                timing.first_token = loop.time()
        else:
            pending += event
            if len(pending) >= answer.write_batch * len(event):
                await response.write(bytes(pending))
                pending.clear()
    if pending:
        await response.write(bytes(pending))
    timing.first_token = timing.first_token or loop.time()
    timing.last_token = loop.time()


async def _mid_stream_fault(
    response: web.StreamResponse, fault: Fault, request: web.Request, pending: bytearray
) -> bool:
    """Serve a mid-stream fault; True when the stream must end here."""
    if pending:
        await response.write(bytes(pending))
        pending.clear()
    if fault.kind == "disconnect":
        if request.transport is not None:
            request.transport.abort()
        raise _Dropped
    if fault.kind == "stall":
        await asyncio.sleep(fault.seconds)
        return False
    if fault.kind == "malformed":
        await response.write(b'data: {"choices": [{"delta": {"content": "oops"\n\n')
        return True
    if fault.kind == "error_event":
        body = seeds.error_body(fault.code, fault.message or "fetch failed", fault.trace_id)
        await response.write(_sse(body))
        return True
    return fault.kind == "no_done"
