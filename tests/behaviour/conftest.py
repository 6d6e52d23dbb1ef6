"""``chat``: each scenario runs once on Discord and once on Slack, against the loopback fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.slack import SlackBot
from bot.conversations import Conversations
from bot.models import ModelCatalog
from bot.settings import Settings, UpstreamSettings
from bot.upstream import UpstreamClient
from storage import MemoryStore
from tests.behaviour.chats import Chat
from tests.behaviour.discord_chat import DiscordChat
from tests.behaviour.slack_chat import SlackChat
from tests.discord.harness import FAST_DISCORD, RecordingDiscord, Rig
from tests.fakes.slack import SlackFake
from tests.fakes.slack.limits import RateLimit, SlackLimits
from tests.fakes.upstream import FakeUpstream
from tests.services import generous_upstream_settings, reply_service
from tests.slack.conftest import slack_settings

PLATFORMS = ["discord", "slack"]
# conversations.replies' tier (about one a minute) made short; the Slack driver tells
# the bot the same interval (slack_chat.READ_INTERVAL), so a restart reads at once.
READS = RateLimit(burst=1, interval=0.5)


@pytest.fixture
def upstream_settings(upstream: FakeUpstream) -> UpstreamSettings:
    return generous_upstream_settings(upstream)


@pytest.fixture(params=PLATFORMS)
async def chat(
    request: pytest.FixtureRequest, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> AsyncIterator[Chat]:
    if request.param == "discord":
        async with RecordingDiscord(FAST_DISCORD) as discord:
            yield DiscordChat(Rig(discord, MemoryStore(), client, upstream_settings))
            assert discord.stats().rate_limited == {}
        return
    store = MemoryStore()
    service = reply_service(store, client, upstream_settings)
    bots: list[SlackBot] = []
    limits = (
        SlackLimits.fast()
        .with_method_limit("conversations.replies", READS)
        .with_method_limit("conversations.history", READS)
    )
    async with SlackFake(limits=limits) as fake:

        async def make(*, recover: bool = False, **changes: Any) -> SlackBot:
            settings = Settings(
                _env_file=None,
                upstream=upstream_settings,
                slack=slack_settings(fake, **changes),
            )
            if recover:  # as ``threadline run`` starts after a stop
                await store.interrupt_streaming()
            bot = SlackBot(
                settings,
                service=service,
                conversations=Conversations(store),
                catalog=ModelCatalog(upstream_settings),
                unanswered=await service.unanswered() if recover else (),
            )
            await bot.start()
            bots.append(bot)
            await fake.wait_for(lambda: fake.socket.connections, what="socket")
            return bot

        try:
            yield SlackChat(fake, store, make)
        finally:
            for bot in bots:
                await bot.stop()
