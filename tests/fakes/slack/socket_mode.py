"""Socket Mode: ``apps.connections.open`` and the WebSocket that carries envelopes.

Protocol (https://docs.slack.dev/apis/events-api/using-socket-mode and
slack_sdk/socket_mode/aiohttp/__init__.py, async_client.py, request.py):

- ``apps.connections.open`` needs the app-level ``xapp-`` token and answers
  ``{"ok": true, "url": "wss://…/link/?ticket=…&app_id=…"}`` (here ``ws://127.0.0.1``).
- On connect the server sends ``{"type": "hello", "num_connections", "debug_info",
  "connection_info": {"app_id"}}``.
- Envelopes: ``{"envelope_id", "type": "events_api" | "slash_commands" | "interactive",
  "payload", "accepts_response_payload", "retry_attempt", "retry_reason"}``; the app
  acks with ``{"envelope_id", "payload"?}`` on the same socket.
- An envelope not acked within 3 s is sent again as a new envelope with
  ``retry_attempt`` + 1 and ``retry_reason: "timeout"`` (up to 3 retries; events only).
- ``{"type": "disconnect", "reason": "refresh_requested" | "warning" | "link_disabled"}``
  tells the client to open a new connection; slack_sdk then calls
  apps.connections.open again. The fake closes the old socket shortly after.
- The client pings (``sdk-ping-pong:<time>``); aiohttp's server answers pongs itself.
- With several connections open, each envelope goes to one of them (round robin).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import WSCloseCode, WSMsgType, web

from .events import AckRecord, Attempt, Delivery
from .state import Json, Workspace
from .web_api import ApiCall, Handler

__all__ = ["SocketModeServer"]


@dataclass(eq=False, slots=True)
class Connection:
    id: int
    ws: web.WebSocketResponse
    opened_at: float


class SocketModeServer:
    def __init__(
        self,
        ws: Workspace,
        acks: list[AckRecord],
        on_change: Callable[[], None],
    ):
        self._ws = ws
        self._acks = acks
        self._on_change = on_change
        self._tickets: set[str] = set()
        self._ids = itertools.count(1)
        self._round_robin = itertools.count()
        self.connections: list[Connection] = []
        self.connections_opened = 0
        self._connected = asyncio.Event()
        # envelope id -> (delivery, attempt) awaiting an ack
        self._pending: dict[str, tuple[Delivery, Attempt]] = {}
        self._closers: set[asyncio.Task[None]] = set()

    def routes(self) -> dict[str, Handler]:
        return {"apps.connections.open": self.open_connection}

    def add_http_routes(self, app: web.Application) -> None:
        app.router.add_get("/link/", self.handle_socket)

    async def open_connection(self, call: ApiCall) -> Json:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        host = self._ws.origin.replace("http://", "ws://", 1)
        return {"url": f"{host}/link/?ticket={ticket}&app_id={self._ws.app_id}"}

    # ---- the socket -------------------------------------------------------------

    async def handle_socket(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            raise web.HTTPUnauthorized(text="invalid ticket")
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        conn = Connection(next(self._ids), socket, time.monotonic())
        self.connections.append(conn)
        self.connections_opened += 1
        self._connected.set()
        await socket.send_json(self._hello())
        self._on_change()
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    self._receive(message.data)
        finally:
            self.connections.remove(conn)
            if not self.connections:
                self._connected.clear()
            self._on_change()
        return socket

    def _hello(self) -> Json:
        return {
            "type": "hello",
            "num_connections": len(self.connections),
            "debug_info": {
                "host": "applink-fake",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self._ws.app_id},
        }

    def _receive(self, data: str) -> None:
        try:
            message = json.loads(data)
        except json.JSONDecodeError:
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        found = self._pending.pop(str(envelope_id), None)
        if found is None:
            return
        delivery, attempt = found
        attempt.outcome = "acked"
        attempt.response = message.get("payload")
        self._acks.append(
            AckRecord(
                delivery.id,
                delivery.kind,
                "socket",
                attempt.number,
                attempt.envelope_id,
                attempt.response,
                time.monotonic(),
            )
        )
        delivery.acked_event.set()
        self._on_change()

    # ---- delivery ---------------------------------------------------------------

    async def deliver(self, delivery: Delivery, ack_timeout: float, max_retries: int) -> None:
        """Send, wait for the ack, redeliver on timeout (events only)."""
        reason = ""
        for number in range(max_retries + 1):
            attempt = await self._send(delivery, number, reason)
            try:
                await asyncio.wait_for(delivery.acked_event.wait(), ack_timeout)
            except TimeoutError:
                attempt.outcome = "timeout"
                self._on_change()
            if delivery.acked or not delivery.retryable:
                break
            reason = "timeout"
        delivery.finished = True
        self._on_change()

    async def _send(self, delivery: Delivery, number: int, reason: str) -> Attempt:
        envelope_id = str(uuid.uuid4())
        envelope: Json = {
            "envelope_id": envelope_id,
            "payload": delivery.payload,
            "type": delivery.kind,
            "accepts_response_payload": delivery.kind == "slash_commands",
        }
        if delivery.kind == "events_api":
            envelope.update(retry_attempt=number, retry_reason=reason)
        attempt = Attempt(number, reason, time.monotonic(), envelope_id=envelope_id)
        delivery.attempts.append(attempt)
        self._pending[envelope_id] = (delivery, attempt)
        while True:
            await self._connected.wait()
            conn = self.connections[next(self._round_robin) % len(self.connections)]
            try:
                await conn.ws.send_str(json.dumps(envelope))
                break
            except ConnectionError:
                await asyncio.sleep(0.01)  # the socket is closing; pick another one
        attempt.sent_at = time.monotonic()
        self._on_change()
        return attempt

    # ---- connection control -----------------------------------------------------

    async def disconnect(self, reason: str = "refresh_requested", grace: float = 1.0) -> None:
        """Ask every client to reconnect, then close the old sockets after ``grace``."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
        for conn in list(self.connections):
            await conn.ws.send_json(message)
            task = asyncio.create_task(self._close_later(conn, grace))
            self._closers.add(task)
            task.add_done_callback(self._closers.discard)

    async def drop(self) -> None:
        """Close every socket at once, without a ``disconnect`` message."""
        for conn in list(self.connections):
            await conn.ws.close(code=WSCloseCode.GOING_AWAY)

    async def _close_later(self, conn: Connection, grace: float) -> None:
        await asyncio.sleep(grace)
        await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"refresh")

    async def close(self) -> None:
        for task in list(self._closers):
            task.cancel()
        await asyncio.gather(*self._closers, return_exceptions=True)
        await self.drop()
