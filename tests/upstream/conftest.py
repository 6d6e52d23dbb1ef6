"""Every client test runs over both HTTP transports httpx can use here."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bot.settings import UpstreamSettings
from tests.fakes.upstream import API_KEY, FakeUpstream


@pytest.fixture(params=["aiohttp", "httpcore"])
def upstream_settings(request: pytest.FixtureRequest, upstream: FakeUpstream) -> UpstreamSettings:
    return UpstreamSettings(
        base_url=upstream.base_url,
        api_key=SecretStr(API_KEY),
        timeout_connect=2.0,
        timeout_first_token=2.0,
        timeout_idle=2.0,
        http_transport=request.param,
    )
