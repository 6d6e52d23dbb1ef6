"""Drive the real ``DiscordBot`` against the loopback Discord, and read what happened.

``RecordingDiscord`` is the fake plus one aiohttp middleware that keeps the JSON
body of every POST/PATCH the bot sends, so tests can assert on fields the fake
does not model (``allowed_mentions``). ``Rig`` starts bots the way
``threadline run`` would — ``async with bot: await bot.start(token)`` — with
``DISCORD__API_BASE`` / ``DISCORD__GATEWAY_URL`` pointing at the fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from adapters.discord import DiscordBot
from bot.conversations import Conversations
from bot.coordination import Coordination
from bot.delivery import Deliveries
from bot.image_flow import ImageFlow
from bot.models import ModelCatalog
from bot.ports import ConversationStore
from bot.service import ReplyService
from bot.settings import ConversationLimits, DiscordSettings, Settings, UpstreamSettings
from bot.streaming import BudgetPlan, Rate
from bot.upstream import UpstreamClient
from tests.fakes.discord import FakeConfig, FakeDiscord, Message
from tests.fakes.discord.harness import run_client
from tests.fakes.discord.model import EPHEMERAL, Interaction
from tests.fakes.discord.payloads import EVERYONE_PERMISSIONS, Payload

# The fake's message bucket is shortened from Discord's observed 5 per 5 s to
# 5 per 0.5 s so a test streams several answers without waiting; the bot's
# scheduler gets the same budget, so the two still have to agree.
BUCKET = Rate(5, 0.5)
FAST_DISCORD = FakeConfig(
    message_bucket_limit=BUCKET.count, message_bucket_period=BUCKET.per_seconds
)
FAST_BUDGET = BudgetPlan(channel=BUCKET, overall=Rate(50, 1.0))
MANAGE_CHANNELS = 1 << 4  # permissions#permissions-bitwise-permission-flags

REGENERATE = "threadline:regenerate:"
STOP = "threadline:stop:"


class RecordingDiscord(FakeDiscord):
    def __init__(self, config: FakeConfig) -> None:
        super().__init__(config)
        self.bodies: list[tuple[str, str, dict[str, Any]]] = []

    def app(self) -> web.Application:
        app = super().app()
        app.middlewares.insert(0, self._record)
        return app

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        # After the route: it read the body, and aiohttp keeps the bytes it read
        # (reading first would leave the route an empty body).
        if request.method in ("POST", "PATCH") and request.content_type == "application/json":
            with contextlib.suppress(ValueError):
                body = json.loads(await request.read() or b"{}")
                if isinstance(body, dict):
                    self.bodies.append((request.method, request.path, body))
        return response

    def message_bodies(self) -> list[dict[str, Any]]:
        """Bodies of message creates and edits (channel and webhook routes)."""
        return [
            body
            for _method, path, body in self.bodies
            if "/messages" in path or "/webhooks/" in path or path.endswith("/callback")
        ]


@dataclass
class Rig:
    """Everything one test needs: the fakes, the store, and a way to run bots."""

    fake: RecordingDiscord
    store: ConversationStore
    client: UpstreamClient
    upstream_settings: UpstreamSettings
    discord: dict[str, Any] = field(default_factory=dict)
    budget: BudgetPlan = FAST_BUDGET  # the edit scheduler's; it must match the fake's bucket
    images: ImageFlow | None = None  # None: images in as data: URLs, answers not posted
    deliveries: Deliveries | None = None  # None: the service's own (bot/delivery.py BACKOFF)
    limits: ConversationLimits = field(default_factory=ConversationLimits)
    # Several workers' (the service's and the bot's, as ``threadline run`` with
    # REDIS_URL); None: each its own, in process.
    coordination: Coordination | None = None

    def settings(self, **discord: Any) -> Settings:
        fields = {
            "token": SecretStr(self.fake.token),
            "api_base": self.fake.api_base,
            "gateway_url": self.fake.gateway_url,
        }
        return Settings(
            _env_file=None,
            limits=self.limits,
            upstream=self.upstream_settings,
            discord=DiscordSettings(**(fields | self.discord | discord)),
        )

    def service(self, settings: Settings) -> ReplyService:
        return ReplyService(
            store=self.store,
            client=self.client,
            catalog=ModelCatalog(settings.upstream),
            limits=self.limits,
            upstream=settings.upstream,
            flush_interval=0.05,
            today=lambda: dt.date(2026, 11, 22),
            images=self.images,
            deliveries=self.deliveries,
            coordination=self.coordination,
        )

    @contextlib.asynccontextmanager
    async def bot(self, *, recover: bool = False, **discord: Any) -> AsyncIterator[DiscordBot]:
        """A started bot (logged in, gateway ready, commands synced); closed on exit.

        ``recover``: start as ``threadline run`` does after a stop, finishing the
        answers it cut and answering the questions it left waiting."""
        settings = self.settings(**discord)
        service = self.service(settings)
        if recover:
            await self.store.interrupt_streaming()
        bot = DiscordBot(
            settings,
            service=service,
            conversations=Conversations(self.store),
            catalog=ModelCatalog(settings.upstream),
            budget=self.budget,
            unanswered=await service.unanswered() if recover else [],
            shared=self.coordination,
            guild_ready_timeout=0.05,
        )
        async with run_client(bot, self.fake):
            yield bot

    # -- reading the fake --------------------------------------------------------

    def bot_messages(self, channel_id: int) -> list[Message]:
        """The bot's messages everyone sees in a channel (ephemeral answers left out)."""
        return [
            m
            for m in self.fake.messages(channel_id)
            if m.author is self.fake.bot and not m.flags & EPHEMERAL
        ]

    async def answered(
        self, channel_id: int, count: int = 1, timeout: float = 5.0
    ) -> list[Message]:
        """The bot's messages in a channel once ``count`` answers carry Regenerate (are done)."""

        def done() -> list[Message] | None:
            messages = self.bot_messages(channel_id)
            finished = [m for m in messages if has_button(m, REGENERATE)]
            return messages if len(finished) >= count else None

        return await self.fake.wait_for(done, timeout)

    async def thread_of(self, message_id: int) -> int:
        """The thread started from a message, once it exists (it has the message's id)."""
        await self.fake.wait_for(lambda: message_id in self.fake.world.channels)
        return message_id

    async def slash(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        channel_id: int | None = None,
        user: str = "alice",
        permissions: int = EVERYONE_PERMISSIONS,
    ) -> Interaction:
        """``/name`` as a member with ``permissions`` (the fake's own helper always
        sends @everyone's, which lack Manage Channels)."""
        if permissions == EVERYONE_PERMISSIONS:
            return await self.fake.dispatch_slash_command(
                name, options, channel_id=channel_id, user=user
            )
        return await self._interaction(2, name, options, channel_id, user, permissions)

    async def autocomplete(
        self, name: str, option: str, typed: str, *, channel_id: int | None = None
    ) -> Interaction:
        """A user types ``typed`` into ``option`` of ``/name`` (INTERACTION_CREATE type 4)."""
        return await self._interaction(
            4, name, {option: typed}, channel_id, "alice", EVERYONE_PERMISSIONS, focused=option
        )

    async def _interaction(
        self,
        kind: int,
        name: str,
        options: Mapping[str, Any] | None,
        channel_id: int | None,
        user: str,
        permissions: int,
        focused: str | None = None,
    ) -> Interaction:
        fake = self.fake
        channel = fake.world.channel(channel_id) if channel_id else fake.channel()
        command = fake.world.command(name, channel.guild_id)
        assert command is not None, f"/{name} is not synced"
        built: list[Payload] = []
        for key, value in (options or {}).items():
            spec = command.option([], key)
            assert spec is not None, f"/{name} has no option {key}"
            option: Payload = {"name": key, "type": spec["type"], "value": value}
            if key == focused:
                option["focused"] = True
            built.append(option)
        data: Payload = {"id": str(command.id), "name": name, "type": 1, "options": built}
        if command.guild_id is not None:
            data["guild_id"] = str(command.guild_id)
        interaction = fake.world.new_interaction(kind, channel, fake.user(user), data)
        payload = fake.render.interaction(interaction)
        if "member" in payload:
            payload["member"]["permissions"] = str(permissions)
        await fake.dispatch_raw("INTERACTION_CREATE", payload)
        return interaction

    async def interaction_done(self, interaction: Interaction, timeout: float = 5.0) -> Message:
        """The interaction's answer message, once it carries Regenerate."""

        def done() -> Message | None:
            ids = [interaction.original_message_id, *interaction.followup_ids]
            for message_id in ids:
                message = self.fake.world.messages.get(message_id or 0)
                if message is not None and has_button(message, REGENERATE):
                    return message
            return None

        return await self.fake.wait_for(done, timeout)

    async def interaction_reply(self, interaction: Interaction, timeout: float = 5.0) -> str:
        """The text of a settings command's answer (the deferred original, once edited)."""

        def done() -> str | None:
            original = self.fake.world.messages.get(interaction.original_message_id or 0)
            return original.content if original is not None and original.content else None

        return await self.fake.wait_for(done, timeout)


def has_button(message: Message, prefix: str) -> bool:
    return any((b.custom_id or "").startswith(prefix) for b in message.buttons)


def button(message: Message, prefix: str) -> str:
    found = [b.custom_id for b in message.buttons if (b.custom_id or "").startswith(prefix)]
    assert found, f"message {message.id} has no {prefix}… button: {message.buttons}"
    return str(found[0])


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> None:
    """Wait until ``check()`` (an async or plain condition on the store) is true.

    The store raises no events; this re-checks every 10 ms until a deadline,
    and fails the test at the deadline. It never decides anything by time.
    """
    async with asyncio.timeout(timeout):
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.01)
