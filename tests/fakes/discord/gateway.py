"""The gateway: a websocket that speaks Discord's opcodes to discord.py.

https://discord.com/developers/docs/events/gateway and
https://discord.com/developers/docs/topics/opcodes-and-status-codes#gateway

- HELLO (op 10) on connect; IDENTIFY (op 2) → READY then one GUILD_CREATE per
  guild; HEARTBEAT (op 1) → HEARTBEAT_ACK (op 11); RESUME (op 6) → the missed
  dispatches after the client's `seq`, then RESUMED; REQUEST_GUILD_MEMBERS
  (op 8) → GUILD_MEMBERS_CHUNK.
- A session outlives its socket: dispatches sent while the bot is away are
  buffered (with sequence numbers) and replayed on RESUME.
- Compression: discord.py asks for `compress=zlib-stream` (or zstd-stream when
  a zstd module is installed; discord/utils.py `_ActiveDecompressionContext`).
  For zlib-stream the fake keeps one zlib context per connection and ends each
  message with Z_SYNC_FLUSH, which is what discord.py's decompressor waits for
  (`data[-4:] == b'\\x00\\x00\\xff\\xff'`). For anything else it sends plain
  TEXT frames, which discord.py always accepts (gateway.py `received_message`
  decompresses only `bytes`).
- Sharding (shards.py): IDENTIFY's `shard: [id, count]` picks the guilds (READY,
  GUILD_CREATE) and events a session gets, DMs on shard 0; a too-fast IDENTIFY is
  counted, or refused with op 9 INVALID_SESSION.
- Intents gate events, and without MESSAGE_CONTENT a guild message the bot is
  not mentioned in arrives with empty content, embeds, attachments and
  components. https://discord.com/developers/docs/events/gateway#message-content-intent
"""

from __future__ import annotations

import asyncio
import json
import secrets
import zlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .model import Message
    from .payloads import Payload, Renderer
    from .state import World

from .shards import IdentifyGate, shard_of

# Opcodes.
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE_STATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11

# Close codes.
UNKNOWN_ERROR, UNKNOWN_OPCODE, DECODE_ERROR, NOT_AUTHENTICATED = 4000, 4001, 4002, 4003
AUTHENTICATION_FAILED, ALREADY_AUTHENTICATED, INVALID_SHARD = 4004, 4005, 4010
INVALID_INTENTS, DISALLOWED_INTENTS = 4013, 4014

# Intents: https://discord.com/developers/docs/events/gateway#list-of-intents
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT
ALL_INTENTS = (1 << 26) - 1


class Connection:
    """One websocket; serialises sends and applies the negotiated compression."""

    def __init__(self, ws: web.WebSocketResponse, path: str, zlib_stream: bool) -> None:
        self.ws = ws
        self.path = path
        self._deflate = zlib.compressobj() if zlib_stream else None
        self._lock = asyncio.Lock()

    async def send(self, frame: Payload) -> bool:
        """Send one frame; False if the socket is already gone."""
        text = json.dumps(frame)
        async with self._lock:
            if self.ws.closed:
                return False
            try:
                if self._deflate is None:
                    await self.ws.send_str(text)
                else:
                    data = self._deflate.compress(text.encode())
                    await self.ws.send_bytes(data + self._deflate.flush(zlib.Z_SYNC_FLUSH))
            except ConnectionError:
                return False
        return True

    async def close(self, code: int, reason: str = "") -> None:
        await self.ws.close(code=code, message=reason.encode())


@dataclass
class Session:
    """A gateway session: survives its socket so it can be resumed."""

    id: str
    intents: int
    shard: tuple[int, int]
    buffer: deque[Payload]
    seq: int = 0
    connection: Connection | None = None
    replay_extra: int = 0  # extra already-seen dispatches to repeat on next RESUME
    resumed_on: list[str] = field(default_factory=list)

    async def dispatch(self, event: str, data: Payload) -> None:
        self.seq += 1
        frame = {"op": DISPATCH, "t": event, "s": self.seq, "d": data}
        self.buffer.append(frame)
        if self.connection is not None and not await self.connection.send(frame):
            self.connection = None


class Gateway:
    """All sessions and sockets of the fake's gateway."""

    def __init__(self, world: World, render: Renderer) -> None:
        self.world = world
        self.render = render
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()
        self.identify_gate = IdentifyGate(world.config)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/gateway", self.handle), web.get("/gateway/resume", self.handle)]

    # -- socket lifecycle --------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = Connection(ws, request.path, request.query.get("compress") == "zlib-stream")
        self.connections.add(conn)
        self.world.counts["gateway_connections"] += 1
        self.world.note("gateway_connect", {"path": request.path, "query": dict(request.query)})
        session: Session | None = None
        try:
            interval = self.world.config.heartbeat_interval_ms
            await conn.send(
                {"op": HELLO, "d": {"heartbeat_interval": interval}, "s": None, "t": None}
            )
            async for msg in ws:
                try:
                    frame = json.loads(msg.data) if msg.type is WSMsgType.TEXT else None
                except ValueError:
                    frame = None
                if not isinstance(frame, dict):
                    await conn.close(DECODE_ERROR, "Error while decoding payload.")
                    break
                session = await self._on_frame(conn, session, frame)
        finally:
            self.connections.discard(conn)
            if session is not None and session.connection is conn:
                session.connection = None
            self.world.note("gateway_disconnect", {"path": request.path, "code": ws.close_code})
        return ws

    async def _on_frame(
        self, conn: Connection, session: Session | None, frame: Payload
    ) -> Session | None:
        op, data = frame.get("op"), frame.get("d")
        if op == HEARTBEAT:
            self.world.counts["heartbeats"] += 1
            await conn.send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op in (IDENTIFY, RESUME) and session is not None:
            await conn.close(ALREADY_AUTHENTICATED, "Already authenticated.")
        elif op == IDENTIFY:
            return await self._identify(conn, data or {})
        elif op == RESUME:
            return await self._resume(conn, data or {})
        elif session is None:
            await conn.close(NOT_AUTHENTICATED, "Not authenticated.")
        elif op == REQUEST_MEMBERS:
            await self._members_chunk(session, data or {})
        elif op not in (PRESENCE, VOICE_STATE):
            await conn.close(UNKNOWN_OPCODE, "Unknown opcode.")
        return session

    async def _identify(self, conn: Connection, data: Payload) -> Session | None:
        intents = int(data.get("intents", 0))
        shard = tuple(data.get("shard") or (0, 1))
        if data.get("token") != self.world.config.token:
            await conn.close(AUTHENTICATION_FAILED, "Authentication failed.")
            return None
        if intents & ~ALL_INTENTS:
            await conn.close(INVALID_INTENTS, "Invalid intent(s).")
            return None
        if intents & PRIVILEGED and not self.world.config.privileged_intents_enabled:
            await conn.close(DISALLOWED_INTENTS, "Disallowed intent(s).")
            return None
        if len(shard) != 2 or not 0 <= shard[0] < shard[1]:
            await conn.close(INVALID_SHARD, "Invalid shard.")
            return None
        if not self.identify_gate.admit(int(shard[0])):
            self.world.counts["identify_too_fast"] += 1
            if self.world.config.refuse_fast_identify:
                await conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
                return None
        session = Session(
            id=secrets.token_hex(16),
            intents=intents,
            shard=(int(shard[0]), int(shard[1])),
            buffer=deque(maxlen=self.world.config.resume_buffer),
            connection=conn,
        )
        self._forget_detached_sessions(session.shard[0])
        self.sessions[session.id] = session
        self.world.counts["identifies"] += 1
        guilds = self._guilds_of(session)
        await session.dispatch("READY", self._ready(session, guilds))
        if intents & GUILDS:
            for guild_id in guilds:
                await session.dispatch(
                    "GUILD_CREATE", self.render.guild_create(self.world.guilds[guild_id])
                )
        self.world.note("identify", {"session_id": session.id, "intents": intents})
        return session

    def _forget_detached_sessions(self, shard_id: int) -> None:
        """A fresh IDENTIFY starts a new life of its shard; that shard's sessions
        nobody can resume go (another shard's may be between socket and RESUME)."""
        detached = [k for k, s in self.sessions.items() if s.connection is None]
        for key in [k for k in detached if self.sessions[k].shard[0] == shard_id]:
            del self.sessions[key]

    def _guilds_of(self, session: Session) -> list[int]:
        shard_id, count = session.shard
        # "shard_id = (guild_id >> 22) % num_shards" (topics/gateway#sharding)
        return [g for g in self.world.guilds if shard_of(g, count) == shard_id]

    def _ready(self, session: Session, guilds: Iterable[int]) -> Payload:
        return {
            "v": 10,
            "user": self.render.bot_user(),
            "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_url,
            "shard": list(session.shard),
            "application": {
                "id": str(self.world.application_id),
                "flags": self.render.application()["flags"],
            },
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
        }

    async def _resume(self, conn: Connection, data: Payload) -> Session | None:
        session = self.sessions.get(str(data.get("session_id")))
        if data.get("token") != self.world.config.token:
            await conn.close(AUTHENTICATION_FAILED, "Authentication failed.")
            return None
        if session is None:
            await conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            self.world.counts["invalid_sessions"] += 1
            return None
        if session.connection is not None and session.connection is not conn:
            await session.connection.close(UNKNOWN_ERROR, "Session resumed elsewhere.")
        session.connection = conn
        since = int(data.get("seq") or 0) - session.replay_extra
        session.replay_extra = 0
        if session.buffer and since < session.buffer[0]["s"] - 1:
            # The missed dispatches are no longer buffered: Discord cannot
            # replay them either, and invalidates the session.
            del self.sessions[session.id]
            await conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            self.world.counts["invalid_sessions"] += 1
            return None
        replay = [frame for frame in session.buffer if frame["s"] > since]
        for frame in replay:
            await conn.send(frame)
        await session.dispatch("RESUMED", {})
        session.resumed_on.append(conn.path)
        self.world.counts["resumes"] += 1
        self.world.counts["replayed_dispatches"] += len(replay)
        self.world.note("resume", {"session_id": session.id, "replayed": len(replay)})
        return session

    async def _members_chunk(self, session: Session, data: Payload) -> None:
        guild = self.world.guilds.get(int(data.get("guild_id") or 0))
        if guild is None:
            return
        people = [self.world.bot, *self.world.humans]
        await session.dispatch(
            "GUILD_MEMBERS_CHUNK",
            {
                "guild_id": str(guild.id),
                "members": [self.render.member(u, guild) for u in people],
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
                "nonce": data.get("nonce"),
            },
        )

    # -- sending -----------------------------------------------------------

    @property
    def url(self) -> str:
        return self.world.base_url.replace("http", "ws", 1) + "/gateway"

    @property
    def resume_url(self) -> str:
        return self.url + "/resume"

    def _sessions_for(self, guild_id: int | None) -> list[Session]:
        """The sessions of the shard a guild's (or a DM's: None) events go to."""
        return [s for s in self.sessions.values() if shard_of(guild_id, s.shard[1]) == s.shard[0]]

    async def dispatch(self, event: str, data: Payload, intent: int = 0) -> int:
        """Send a dispatch to the sessions of its guild's shard (`data["guild_id"]`;
        none: shard 0) whose intents include `intent`."""
        sent = 0
        guild_id = data.get("guild_id")
        for session in self._sessions_for(int(guild_id) if guild_id else None):
            if intent and not session.intents & intent:
                continue
            await session.dispatch(event, data)
            sent += 1
        self.world.counts[f"dispatched:{event}"] += sent
        return sent

    async def dispatch_message(self, event: str, message: Message) -> int:
        """MESSAGE_CREATE/UPDATE with intent gating and content stripping."""
        full = self.render.message(message, gateway=True)
        intent = GUILD_MESSAGES if message.guild_id is not None else DIRECT_MESSAGES
        readable = (
            message.guild_id is None
            or message.author.id == self.world.bot.id
            or any(u.id == self.world.bot.id for u in message.mentions)
        )
        sent = 0
        for session in self._sessions_for(message.guild_id):
            if not session.intents & intent:
                continue
            data = full if readable or session.intents & MESSAGE_CONTENT else _stripped(full)
            await session.dispatch(event, data)
            sent += 1
        self.world.counts[f"dispatched:{event}"] += sent
        return sent

    # -- forcing failures --------------------------------------------------

    async def reconnect(self, duplicate: int = 0) -> int:
        """Send op 7 RECONNECT and stop writing to the socket; the bot must RESUME.

        `duplicate` makes the next RESUME replay that many dispatches the bot
        already saw, as Discord may (at-least-once delivery).
        """
        count = 0
        for session in self.sessions.values():
            conn = session.connection
            if conn is None:
                continue
            session.connection = None
            session.replay_extra = duplicate
            await conn.send({"op": RECONNECT, "d": None, "s": None, "t": None})
            count += 1
        self.world.counts["reconnects_requested"] += count
        return count

    async def drop(self, code: int = UNKNOWN_ERROR, duplicate: int = 0) -> int:
        """Close every socket with `code` (4000: resumable) without warning."""
        count = 0
        for session in self.sessions.values():
            conn = session.connection
            if conn is None:
                continue
            session.connection = None
            session.replay_extra = duplicate
            await conn.close(code, "Dropped by the fake.")
            count += 1
        self.world.counts["drops"] += count
        return count

    async def invalidate(self, resumable: bool = False) -> int:
        """Send op 9 INVALID_SESSION; with resumable=False the bot re-IDENTIFIES."""
        count = 0
        for key, session in list(self.sessions.items()):
            conn = session.connection
            if conn is None:
                continue
            if not resumable:
                del self.sessions[key]
            session.connection = None
            await conn.send({"op": INVALID_SESSION, "d": resumable, "s": None, "t": None})
            count += 1
        return count

    async def close_all(self) -> None:
        for conn in list(self.connections):
            await conn.close(1001, "Fake Discord stopping.")


def _stripped(payload: Payload) -> Payload:
    return payload | {"content": "", "embeds": [], "attachments": [], "components": []}
