"""The operations endpoint of ``threadline run``: ``GET /healthz`` and ``GET /metrics``.

    async with OpsServer(settings.ops, metrics=..., database=..., upstream_url=...) as ops:
        ops.watch("discord", connected=..., rate_limited=...)

``/healthz`` answers 200 when every part is up and 503 when one is down, with
the same JSON either way::

    {"database": "ok", "upstream": "ok" | "unreachable: …",
     "platforms": {"discord": "connected" | "disconnected", …}}

The upstream is checked with a TCP connect to the host of its base URL (never a
completion call, which costs money), and the result is reused for
``OPS__UPSTREAM_CACHE_SECONDS`` so that frequent probes cost nothing. ``/metrics``
renders ``bot.metrics.Metrics.registry`` in Prometheus' text format.

The endpoint is for operators, not for answering: when its port cannot be bound
the error is logged and threadline keeps answering without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.metrics import Metrics
from bot.ports import Clock, SystemClock
from bot.settings import OpsSettings

__all__ = ["OpsServer", "UpstreamProbe"]

log = logging.getLogger(__name__)

OK = "ok"


@dataclass(frozen=True, slots=True)
class _Platform:
    connected: Callable[[], bool]


class UpstreamProbe:
    """Can the upstream's host be reached? A TCP connect, cached for a few seconds."""

    def __init__(
        self, base_url: str, *, timeout: float, cache_seconds: float, clock: Clock | None = None
    ) -> None:
        parts = urlsplit(base_url)
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._clock = clock or SystemClock()
        self._lock = asyncio.Lock()  # one probe at a time, however many scrapes
        self._last: tuple[float, str] | None = None

    async def status(self) -> str:
        async with self._lock:
            now = self._clock.monotonic()
            if self._last is not None and now - self._last[0] < self._cache_seconds:
                return self._last[1]
            status = await self._probe()
            self._last = (self._clock.monotonic(), status)
            return status

    async def _probe(self) -> str:
        try:
            async with asyncio.timeout(self._timeout):
                _, writer = await asyncio.open_connection(self._host, self._port)
        except TimeoutError:
            return f"unreachable: no connection to {self._host}:{self._port} in {self._timeout:g} s"
        except OSError as error:
            return f"unreachable: {self._host}:{self._port}: {error.strerror or error}"
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return OK


class OpsServer:
    """Serves ``/healthz`` and ``/metrics`` on ``OPS__HOST``:``OPS__PORT`` (None: not at all)."""

    def __init__(
        self,
        settings: OpsSettings,
        *,
        metrics: Metrics,
        database: Callable[[], Awaitable[object]],
        upstream_url: str,
        clock: Clock | None = None,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._database = database
        self._upstream = UpstreamProbe(
            upstream_url,
            timeout=settings.upstream_timeout,
            cache_seconds=settings.upstream_cache_seconds,
            clock=clock,
        )
        self._platforms: dict[str, _Platform] = {}
        self._runner: web.AppRunner | None = None
        self._address: tuple[str, int] | None = None

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port) served on; None when disabled or the port could not be bound."""
        return self._address

    def watch(
        self,
        platform: str,
        *,
        connected: Callable[[], bool],
        rate_limited: Callable[[], int | None],
    ) -> None:
        """Report a platform connection in /healthz and its 429s in /metrics."""
        self._platforms[platform] = _Platform(connected)
        self._metrics.watch_rate_limits(platform, rate_limited)

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """(every part up?, the report /healthz shows)."""
        database, upstream = await asyncio.gather(self._database_status(), self._upstream.status())
        platforms = {
            name: "connected" if platform.connected() else "disconnected"
            for name, platform in self._platforms.items()
        }
        healthy = (
            database == OK
            and upstream == OK
            and all(state == "connected" for state in platforms.values())
        )
        return healthy, {"database": database, "upstream": upstream, "platforms": platforms}

    async def _database_status(self) -> str:
        try:
            async with asyncio.timeout(self._settings.upstream_timeout):
                await self._database()
        except TimeoutError:
            return "error: no answer from the database"
        # aiosqlite raises ValueError once its connection is closed.
        except (sqlite3.Error, ValueError, OSError) as error:
            return f"error: {error}"
        return OK

    # -- lifetime --------------------------------------------------------------------

    async def __aenter__(self) -> OpsServer:
        port = self._settings.port
        if port is None:
            return self
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics_page)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._settings.host, port).start()
        except OSError as error:
            await runner.cleanup()
            log.error(
                "the operations endpoint cannot listen on %s:%s (%s); "
                "answering continues without /healthz and /metrics",
                self._settings.host,
                port,
                error.strerror or error,
            )
            return self
        self._runner = runner
        host, bound = runner.addresses[0][:2]
        self._address = (str(host), int(bound))
        log.info("operations endpoint on http://%s:%s (/healthz, /metrics)", host, bound)
        return self

    async def __aexit__(self, *exc: object) -> None:
        runner, self._runner = self._runner, None
        self._address = None
        if runner is not None:
            await runner.cleanup()

    # -- handlers --------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        healthy, report = await self.health()
        return web.json_response(report, status=200 if healthy else 503)

    async def _metrics_page(self, request: web.Request) -> web.Response:
        body = generate_latest(self._metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
