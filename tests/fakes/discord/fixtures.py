"""Pytest fixtures: a fake Discord on a free port, with discord.py pointed at it.

Use from a test module with `from tests.fakes.discord.fixtures import discord_fake,
discord_fake_config` (re-export them) or `pytest_plugins = ["tests.fakes.discord.fixtures"]`
in a conftest. Override `discord_fake_config` to change limits or timings:

    @pytest.fixture
    def discord_fake_config() -> FakeConfig:
        return FakeConfig(message_bucket_period=1.0)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .config import FakeConfig
from .pointing import point_discord_py_at
from .server import FakeDiscord


@pytest.fixture
def discord_fake_config() -> FakeConfig:
    """Defaults with a short heartbeat so keep-alive paths run in tests."""
    return FakeConfig(heartbeat_interval_ms=1_000)


@pytest_asyncio.fixture
async def discord_fake(discord_fake_config: FakeConfig) -> AsyncIterator[FakeDiscord]:
    """A started fake on 127.0.0.1:<free port>; discord.py points at it meanwhile."""
    async with FakeDiscord(discord_fake_config) as fake:
        with point_discord_py_at(fake.base_url):
            yield fake
