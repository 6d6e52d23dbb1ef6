"""A loopback host that must never be asked: it records every request it gets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Trap:
    origin: str = ""
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # path, headers


async def _serve_text(request: web.Request) -> web.Response:
    return web.Response(text="the private text an outsider wanted in the prompt")


@asynccontextmanager
async def trap(handler: Handler = _serve_text, host: str = "127.0.0.1") -> AsyncIterator[Trap]:
    """A server on ``host`` (another port than any fake's) that answers with ``handler``."""
    seen = Trap()

    async def record(request: web.Request) -> web.StreamResponse:
        seen.requests.append((request.path, dict(request.headers)))
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", record)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = runner.addresses[0][1]
    seen.origin = f"http://{host}:{port}"
    try:
        yield seen
    finally:
        await runner.cleanup()
