"""SlackFake: one loopback server speaking Slack's Web API, Socket Mode and Events API.

    async with SlackFake(limits=SlackLimits.fast()) as fake:
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.base_url)
        ...
        event_id = await fake.send_event(fake.payloads.app_mention("hi"))
        await fake.wait_for(lambda: fake.messages("C0GENERAL1"), timeout=5)

Routes on one port: ``/api/<method>`` (Web API), ``/link/`` (Socket Mode WebSocket),
``/upload/v1/<id>`` (file bytes), ``/files-pri/…`` (``url_private``), ``/_fake/…``
(control API for a separate process, see control.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from .chat import ChatMethods
from .control import ControlApi
from .conversations import ConversationMethods
from .events import AckRecord, Delivery, EnvelopeKind, Mode, Signature, new_delivery_id
from .files import FileMethods
from .http_events import HttpDeliverer
from .limits import RateLimiter, SlackLimits
from .oauth import OAuthMethods
from .payloads import PayloadFactory
from .socket_mode import SocketModeServer
from .state import Json, MessageView, Workspace
from .streams import StreamMethods
from .web_api import RequestLog, RequestRecord, WebApi

__all__ = ["SlackFake"]

BOT_TOKEN = "xoxb-1111-2222-fakebottoken"
APP_TOKEN = "xapp-1-A0FAKE0001-3333-fakeapptoken"
SIGNING_SECRET = "fake-signing-secret-0123456789abcdef"


class SlackFake:
    """The fake Slack. Start it with ``async with`` (or ``start()`` / ``stop()``)."""

    def __init__(
        self,
        *,
        limits: SlackLimits | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        signing_secret: str = SIGNING_SECRET,
        events_url: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.limits = limits or SlackLimits()
        self.host = host
        self.port = port
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.events_url = events_url
        self.workspace = Workspace(self.limits, clock)
        self.payloads = PayloadFactory(self.workspace)
        self.log = RequestLog()
        self.acks: list[AckRecord] = []
        self.deliveries: dict[str, Delivery] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.limiter = RateLimiter(self.limits, clock)
        self.web_api = WebApi(
            bot_token=bot_token,
            app_token=app_token,
            limiter=self.limiter,
            log=self.log,
            on_change=self.notify_changed,
            workspace=self.workspace.team_id,
        )
        self.socket = SocketModeServer(self.workspace, self.acks, self.notify_changed)
        self.http = HttpDeliverer(signing_secret, self.acks, self.notify_changed)
        self.files = FileMethods(self.workspace, bot_token)
        self.web_api.add(ChatMethods(self.workspace).routes())
        self.web_api.add(StreamMethods(self.workspace).routes())
        self.web_api.add(ConversationMethods(self.workspace).routes())
        self.web_api.add(self.files.routes())
        self.web_api.add(self.socket.routes())
        self.oauth = OAuthMethods(self.workspace, self.web_api)
        self.web_api.add(self.oauth.routes())

    # ---- lifetime -----------------------------------------------------------------

    async def __aenter__(self) -> SlackFake:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self.web_api.handle)
        self.socket.add_http_routes(app)
        self.files.add_http_routes(app)
        ControlApi(self).add_http_routes(app)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.workspace.origin = f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.socket.close()
        await self.http.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for waiter in self._waiters:
            waiter.cancel()

    @property
    def base_url(self) -> str:
        """The Web API base for ``AsyncWebClient(base_url=…)``, with its trailing slash."""
        return f"{self.workspace.origin}/api/"

    # ---- sending to the app -------------------------------------------------------

    async def send_event(
        self,
        event: Json,
        mode: Mode = "socket",
        *,
        url: str | None = None,
        signature: Signature = "valid",
        retries: bool = True,
    ) -> str:
        """Deliver an inner event (or a whole ``event_callback``); returns its event_id.

        The event is applied to the workspace first (a person's message is stored, an
        edit edits, a deletion deletes), then delivered in the background.
        """
        payload = (
            event if event.get("type") == "event_callback" else self.payloads.event_callback(event)
        )
        self.workspace.record_user_event(payload["event"])
        return self._start_delivery(
            Delivery(str(payload["event_id"]), "events_api", mode, payload),
            url=url,
            signature=signature,
            retries=retries,
        )

    async def send_command(
        self,
        command: str = "/ask",
        text: str = "",
        *,
        mode: Mode = "socket",
        url: str | None = None,
        signature: Signature = "valid",
        **fields: str,
    ) -> str:
        """Deliver a slash command; returns its delivery id (see ``deliveries``)."""
        payload = {**self.payloads.slash_command(command, text), **fields}
        return self._start_delivery(
            Delivery(new_delivery_id("slash_commands"), "slash_commands", mode, payload),
            url=url,
            signature=signature,
        )

    async def send_interaction(
        self,
        payload: Json,
        mode: Mode = "socket",
        *,
        url: str | None = None,
        signature: Signature = "valid",
    ) -> str:
        """Deliver an interaction payload (e.g. ``payloads.block_actions(...)``)."""
        kind: EnvelopeKind = "interactive"
        return self._start_delivery(
            Delivery(new_delivery_id(kind), kind, mode, payload), url=url, signature=signature
        )

    def _start_delivery(
        self, delivery: Delivery, *, url: str | None, signature: Signature, retries: bool = True
    ) -> str:
        limits = self.limits
        max_retries = limits.max_retries if retries else 0
        self.deliveries[delivery.id] = delivery
        if delivery.mode == "socket":
            coro = self.socket.deliver(delivery, limits.ack_timeout, max_retries)
        else:
            target = url or self.events_url
            if target is None:
                raise ValueError("HTTP mode needs url= or SlackFake(events_url=...)")
            coro = self.http.deliver(
                delivery,
                target,
                signature=signature,
                ack_timeout=limits.ack_timeout,
                retry_delays=limits.http_retry_delays,
                max_retries=max_retries,
            )
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.notify_changed()
        return delivery.id

    def outage(self, count: int, prefix: str = "chat.") -> None:
        """A Slack outage: the next ``count`` calls of methods starting with ``prefix``
        answer HTTP 500 ``{"ok": false, "error": "internal_error"}`` (as Slack's
        ``chat.*`` did for ~7 s in one incident). ``count`` 0 ends it."""
        self.web_api.outage_prefix, self.web_api.outage_left = prefix, count

    def exhaust(self, method: str, channel: str | None = None) -> None:
        """Use up a method's budget (per channel for chat.postMessage): its calls are
        answered 429 until the fake's clock has moved on enough to refill it."""
        self.limiter.exhaust(method, channel, self.workspace.team_id)

    async def drop_socket(self) -> None:
        """Close every Socket Mode connection at once, without a ``disconnect`` message."""
        await self.socket.drop()

    async def disconnect_socket(self, reason: str = "refresh_requested") -> None:
        """Send Socket Mode ``disconnect`` to every client, then close the old sockets."""
        await self.socket.disconnect(reason, self.limits.disconnect_grace)

    # ---- observing ----------------------------------------------------------------

    def messages(
        self, channel: str, thread_ts: str | None = None, *, include_deleted: bool = False
    ) -> list[MessageView]:
        """Current state of a channel's messages (or of one thread), oldest first."""
        return self.workspace.views(channel, thread_ts, include_deleted)

    @property
    def requests(self) -> list[RequestRecord]:
        return self.log.records

    @property
    def rate_limited(self) -> Counter[str]:
        """How many 429s each method answered."""
        return self.log.rate_limited

    def acks_for(self, delivery_id: str) -> list[AckRecord]:
        return [a for a in self.acks if a.delivery_id == delivery_id]

    def stats(self) -> Json:
        return {
            **self.log.stats(),
            "acks": len(self.acks),
            "deliveries": {d.id: d.summary() for d in self.deliveries.values()},
            "socket_connections": len(self.socket.connections),
            "socket_connections_opened": self.socket.connections_opened,
            "assistant_calls": len(self.workspace.assistant_calls),
            "responses": len(self.workspace.responses),
        }

    async def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float = 5.0,
        what: str = "condition",
    ) -> None:
        """Wait until ``predicate()`` is truthy, re-checking on every change in the fake.

        Changes are: a Web API call answered, a socket opened/closed, an ack, a
        delivery attempt. Raises ``TimeoutError`` naming ``what``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"slack fake: no {what} within {timeout} s")
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait({waiter}, timeout=remaining)
            finally:
                if not waiter.done():
                    waiter.cancel()
                    self._waiters.remove(waiter)

    async def wait_for_ack(self, delivery_id: str, timeout: float = 5.0) -> AckRecord:
        await self.wait_for(lambda: self.acks_for(delivery_id), timeout, f"ack of {delivery_id}")
        return self.acks_for(delivery_id)[0]

    async def wait_for_delivery(
        self,
        delivery_id: str,
        timeout: float = 5.0,
    ) -> Delivery:
        """Wait until a delivery is over (acked, or out of retries)."""
        delivery = self.deliveries[delivery_id]
        await self.wait_for(lambda: delivery.finished, timeout, f"end of delivery {delivery_id}")
        return delivery

    def notify_changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
