"""A loopback HTTP relay between ``threadline run`` and the upstream fake that
records, with the loop time, every piece of an answer it passes on.

The crash matrix needs to know what the model had sent when the process was
killed, exactly: the relay writes each piece to the bot only after noting it,
so no text can have reached the bot that the relay's log does not hold.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

# Hop-by-hop and length headers the relay sets itself.
_DROPPED = {"content-length", "transfer-encoding", "connection", "host", "content-encoding"}


@dataclass
class RelayedStream:
    """One relayed answer: the request's last user text, and what went back when."""

    prompt: str
    pieces: list[tuple[float, bytes]] = field(default_factory=list)

    def text_by(self, moment: float) -> str:
        """The answer text in the complete SSE events relayed up to ``moment`` (loop time)."""
        body = b"".join(piece for at, piece in self.pieces if at <= moment)
        return sse_text(body)

    def text(self) -> str:
        return sse_text(b"".join(piece for _, piece in self.pieces))

    def moment_of(self, length: int) -> float | None:
        """When the first ``length`` characters of the answer had all been relayed."""
        body = b""
        for at, piece in self.pieces:
            body += piece
            if len(sse_text(body)) >= length:
                return at
        return None


def sse_text(body: bytes) -> str:
    """The content of choice 0 across the complete ``data:`` events in ``body``."""
    text = []
    for event in body.split(b"\n\n")[:-1]:  # the last piece is not complete yet
        for line in event.split(b"\n"):
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            payload: dict[str, Any] = json.loads(line[len(b"data: ") :])
            for choice in payload.get("choices") or []:
                delta = choice.get("delta") or {}
                if choice.get("index", 0) == 0 and delta.get("content"):
                    text.append(str(delta["content"]))
    return "".join(text)


class Relay:
    """``async with Relay(upstream_base_url) as relay``; point the bot at ``relay.base_url``."""

    def __init__(self, target: str) -> None:
        self._target = target.rstrip("/")
        self.streams: list[RelayedStream] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.base_url = ""

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._relay)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def stream_for(self, prompt: str) -> RelayedStream | None:
        return next((s for s in self.streams if prompt in s.prompt), None)

    async def _relay(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED}
        stream = RelayedStream(_last_user_text(body))
        self.streams.append(stream)
        loop = asyncio.get_running_loop()
        async with self._session.request(
            request.method, self._target + request.path_qs, data=body, headers=headers
        ) as answer:
            response = web.StreamResponse(
                status=answer.status,
                headers={k: v for k, v in answer.headers.items() if k.lower() not in _DROPPED},
            )
            await response.prepare(request)
            try:
                async for piece in answer.content.iter_any():
                    stream.pieces.append((loop.time(), piece))
                    await response.write(piece)
                await response.write_eof()
            except ConnectionError:
                pass  # the bot was killed mid-answer: what it had is in the log
        return response


def _last_user_text(body: bytes) -> str:
    try:
        payload = json.loads(body or b"{}")
    except json.JSONDecodeError:
        return ""
    users = [m for m in payload.get("messages") or [] if m.get("role") == "user"]
    content = users[-1].get("content") if users else ""
    return content if isinstance(content, str) else json.dumps(content)
