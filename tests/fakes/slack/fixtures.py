"""pytest fixtures for the Slack fake. Use them from a test module with

    from tests.fakes.slack.fixtures import slack_fake_fixture  # noqa: F401

and take ``slack_fake`` as a parameter. Override ``slack_fake_limits`` to change limits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .limits import SlackLimits
from .server import SlackFake

__all__ = ["slack_fake_fixture", "slack_fake_limits_fixture"]


@pytest.fixture(name="slack_fake_limits")
def slack_fake_limits_fixture() -> SlackLimits:
    """Slack's limits with short clocks: 2 s streams, 0.5 s ack timeout, instant retries."""
    return SlackLimits.fast()


@pytest_asyncio.fixture(name="slack_fake")
async def slack_fake_fixture(slack_fake_limits: SlackLimits) -> AsyncIterator[SlackFake]:
    """A started SlackFake on an ephemeral loopback port, stopped after the test."""
    async with SlackFake(limits=slack_fake_limits) as fake:
        yield fake
