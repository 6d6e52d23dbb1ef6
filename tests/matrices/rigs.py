"""Fixtures the matrices share: a Discord rig and Slack bots, as tests/discord and
tests/slack build them, under names of their own (``drig``, ``slack_bot``) so a
matrix module imports them without shadowing warnings.

Only the fakes are fakes: the real DiscordBot / SlackBot, ReplyService and
UpstreamClient run against tests/fakes over loopback sockets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from adapters.slack import SlackBot
from bot.conversations import Conversations
from bot.domain import Role, ThreadKey, Turn
from bot.models import ModelCatalog
from bot.ports import ConversationStore
from bot.service import ReplyService
from bot.settings import Settings, UpstreamSettings
from bot.upstream import UpstreamClient
from storage import MemoryStore
from tests.discord.harness import FAST_DISCORD, RecordingDiscord, Rig
from tests.fakes.slack import SlackFake
from tests.services import reply_service
from tests.slack.conftest import slack_settings

__all__ = [
    "MakeSlackBot",
    "drig_fixture",
    "slack_bot_fixture",
    "slack_service",
    "start_slack_bot",
    "turns_of",
    "user_turns",
]

MakeSlackBot = Callable[..., Awaitable[SlackBot]]


@pytest.fixture(name="drig")
async def drig_fixture(
    client: UpstreamClient, upstream_settings: UpstreamSettings
) -> AsyncIterator[Rig]:
    """tests/discord's ``rig``: the loopback Discord, a MemoryStore, the real bot."""
    async with RecordingDiscord(FAST_DISCORD) as fake:
        rig = Rig(fake, MemoryStore(), client, upstream_settings)
        yield rig
        # The edit scheduler kept to the fake's buckets and to 2,000 characters.
        assert fake.stats().rate_limited == {}
        assert all(len(m.content) <= 2000 for m in fake.world.messages.values())


def slack_service(
    store: ConversationStore, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> ReplyService:
    return reply_service(store, client, upstream_settings)


async def start_slack_bot(
    fake: SlackFake,
    service: ReplyService,
    store: ConversationStore,
    upstream_settings: UpstreamSettings,
    *,
    http: bool = False,
    **changes: Any,
) -> SlackBot:
    """A started SlackBot (Socket Mode unless ``http``), as tests/slack's ``make_bot``."""
    settings = Settings(
        _env_file=None,
        upstream=upstream_settings,
        slack=slack_settings(fake, http=http, **changes),
    )
    bot = SlackBot(
        settings,
        service=service,
        conversations=Conversations(store),
        catalog=ModelCatalog(upstream_settings),
    )
    await bot.start()
    if not http:
        await fake.wait_for(lambda: fake.socket.connections, what="socket")
    return bot


@pytest.fixture(name="slack_bot")
async def slack_bot_fixture(
    slack_fake: SlackFake, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> AsyncIterator[tuple[MakeSlackBot, ConversationStore]]:
    """Start SlackBots (Socket Mode unless ``http=True``) on one MemoryStore."""
    store = MemoryStore()
    service = slack_service(store, client, upstream_settings)
    bots: list[SlackBot] = []

    async def make(*, http: bool = False, **changes: Any) -> SlackBot:
        bot = await start_slack_bot(
            slack_fake, service, store, upstream_settings, http=http, **changes
        )
        bots.append(bot)
        return bot

    yield make, store
    for bot in bots:
        await bot.stop()


async def turns_of(store: ConversationStore, key: ThreadKey) -> list[Turn]:
    """Every turn of a thread the history still counts (failed answers are left out)."""
    window = await store.history(key, token_budget=10**12, max_turns=10_000)
    return list(window.turns)


async def user_turns(store: ConversationStore, key: ThreadKey) -> list[str]:
    return [t.text for t in await turns_of(store, key) if t.role is Role.USER]
