"""The HTTP transport under the upstream client, and a way to let a stream's bytes gather.

At 50 tokens/s every token is its own TCP segment. A reader that sleeps between
reads saves its own wake-ups, but the event loop still wakes for every segment
to move it into aiohttp's buffer, and that wake-up (epoll, recv, the protocol's
callbacks, the read timer it re-arms) was the largest cost left in
bench/e2e.py. ``gathering`` pauses the socket's transport for the sleep instead,
so the kernel holds the segments and one ``recv`` takes them all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx

# Where this transport puts the response's asyncio transport (httpx extensions are
# a plain dict on the response; the prefix keeps the key out of httpx's way).
READING = "threadline.reading"


def transport(kind: str) -> httpx.AsyncBaseTransport | None:
    """httpx over aiohttp's HTTP parser, or None for httpx's own (httpcore).

    Profiling the whole pipeline (bench/e2e.py) put half of threadline's CPU in
    httpcore/h11/anyio, which pay for every socket read; at 50 tokens/s every
    chunk is its own read.
    """
    if kind != "aiohttp":
        return None
    from httpx_aiohttp import AiohttpTransport

    class PausableTransport(AiohttpTransport):
        """httpx-aiohttp, exposing each streamed response's socket transport."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await super().handle_async_request(request)
            aiohttp_response = getattr(response.stream, "_aiohttp_response", None)
            connection = getattr(aiohttp_response, "connection", None)
            reading = getattr(connection, "transport", None)
            if isinstance(reading, asyncio.ReadTransport):
                response.extensions[READING] = reading
            return response

    return PausableTransport(
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=64)
    )


def can_gather(response: httpx.Response) -> bool:
    """Whether ``gathering`` can pause this response's socket."""
    return isinstance(response.extensions.get(READING), asyncio.ReadTransport)


@contextlib.asynccontextmanager
async def gathering(response: httpx.Response) -> AsyncIterator[None]:
    """While inside, the response's bytes wait in the kernel instead of waking the loop.

    Without a pausable transport (httpcore, a test transport) this does nothing
    (see ``can_gather``). Reading is resumed only if this paused it, so the
    HTTP client's own flow control keeps its say.
    """
    reading = response.extensions.get(READING)
    if not isinstance(reading, asyncio.ReadTransport) or not reading.is_reading():
        yield
        return
    reading.pause_reading()
    try:
        yield
    finally:
        if not reading.is_closing():
            reading.resume_reading()
