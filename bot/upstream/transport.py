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
import re
import socket
import weakref
from collections.abc import AsyncIterator

import httpx

# Where this transport puts the response's asyncio transport (httpx extensions are
# a plain dict on the response; the prefix keeps the key out of httpx's way).
READING = "threadline.reading"
# While gathering, how often the bytes waiting in the kernel are looked at (not
# read: MSG_PEEK) for the stream's end, so the last tokens are never held back
# for the rest of a pause (issue 19: the final text lands fast).
PEEK_EVERY = 0.1
PEEK_BYTES = 65536
# The end of an answer on the wire: a finish reason, [DONE], or an error event.
_OVERLAP = 32  # an ending marker may straddle two looks
_ENDING = re.compile(rb'"finish_reason":\s*"|data: \[DONE\]|"error":\s*\{')


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

    # 0: no cap on connections (aiohttp's meaning). None would leave aiohttp's own
    # default of 100, and the 101st answer at once waited for a whole answer
    # (bench/e2e.py --conversations 200 --burst: 100 answers' first words 12 s late).
    # How many streams run at once is the reply slots' call (bot/concurrency.py).
    return PausableTransport(limits=httpx.Limits(max_connections=0, max_keepalive_connections=64))


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


async def gather(response: httpx.Response, seconds: float) -> None:
    """Let the response's bytes gather in the kernel for up to ``seconds``.

    The pause ends early when the waiting bytes hold the end of the answer (or
    the connection closed): the last tokens are read at once, not a pause later.
    Without a pausable transport this is a plain sleep.
    """
    reading = response.extensions.get(READING)
    if not isinstance(reading, asyncio.ReadTransport):
        await asyncio.sleep(seconds)
        return
    loop = asyncio.get_running_loop()
    watch = _WATCHES.get(loop)
    if watch is None:
        watch = _WATCHES[loop] = _Watch(loop)
    async with gathering(response):
        try:
            own = reading.get_extra_info("socket")
            sock = own.dup() if own is not None else None
        except OSError:
            sock = None
        done = loop.create_future()
        timer = loop.call_later(seconds, _settle, done)
        if sock is not None:
            watch.add(done, sock)
        try:
            await done
        finally:
            timer.cancel()
            watch.discard(done)
            if sock is not None:
                sock.close()


def _settle(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


class _Watch:
    """The sockets of every paused stream of one event loop, looked at together on
    one timer (one wake-up per ``PEEK_EVERY`` for all of them, not one per stream)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._sockets: dict[asyncio.Future[None], socket.socket] = {}
        self._seen: dict[asyncio.Future[None], int] = {}  # bytes waiting at the last look
        self._tick: asyncio.TimerHandle | None = None

    def add(self, done: asyncio.Future[None], sock: socket.socket) -> None:
        self._sockets[done] = sock
        self._seen[done] = 0
        if self._tick is None:
            self._tick = self._loop.call_later(PEEK_EVERY, self._look)

    def discard(self, done: asyncio.Future[None]) -> None:
        self._sockets.pop(done, None)
        self._seen.pop(done, None)

    def _look(self) -> None:
        """One peek per paused stream into one buffer (no bytes object made), searched
        only where bytes arrived since the last look."""
        self._tick = None
        for done, sock in list(self._sockets.items()):
            seen = self._seen[done]
            count = _peek_into(sock)
            if count == seen:
                continue
            self._seen[done] = count
            if count < 0 or _ENDING.search(_PEEKED, max(0, seen - _OVERLAP), count):
                self.discard(done)
                _settle(done)
        if self._sockets:
            self._tick = self._loop.call_later(PEEK_EVERY, self._look)


_WATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watch] = weakref.WeakKeyDictionary()


def _peek_into(sock: socket.socket) -> int:
    """How many bytes wait on ``sock`` (copied into ``_PEEKED``, left on the socket);
    -1 once the peer closed it or it cannot be looked at (then the pause ends:
    nothing is lost by reading)."""
    try:
        return sock.recv_into(_PEEKED, PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT) or -1
    except BlockingIOError:
        return 0
    except OSError:
        return -1


_PEEKED = bytearray(PEEK_BYTES)  # one event loop thread looks at a time
