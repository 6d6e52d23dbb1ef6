"""Fixtures: the loopback Discord, the fake upstream, a store, and the rig that runs bots."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.settings import UpstreamSettings
from bot.upstream import UpstreamClient
from storage import MemoryStore
from tests.discord.harness import FAST_DISCORD, RecordingDiscord, Rig
from tests.fakes.upstream import FakeUpstream
from tests.services import generous_upstream_settings


@pytest.fixture
def upstream_settings(upstream: FakeUpstream) -> UpstreamSettings:
    return generous_upstream_settings(upstream)


@pytest.fixture
async def fake() -> AsyncIterator[RecordingDiscord]:
    async with RecordingDiscord(FAST_DISCORD) as discord:
        yield discord


@pytest.fixture
async def rig(
    fake: RecordingDiscord, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> AsyncIterator[Rig]:
    rig = Rig(fake, MemoryStore(), client, upstream_settings)
    yield rig
    # The edit scheduler paces every reply by the fake's bucket: no 429, no
    # message over Discord's 2,000 characters (the fake would have refused it).
    assert fake.stats().rate_limited == {}
    assert all(len(m.content) <= 2000 for m in fake.world.messages.values())
