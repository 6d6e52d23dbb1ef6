"""Issue 22, 8: one first-token deadline over every try, and a closed connection is
not a timeout. Counted on the fake upstream (requests), never on the wall clock."""

from __future__ import annotations

import pytest

from bot import wording
from bot.errors import UpstreamUnavailable
from bot.settings import UpstreamSettings
from bot.upstream import ChatRequest, RetryPolicy, UpstreamClient
from tests.fakes.clock import FakeClock
from tests.fakes.upstream import FakeUpstream, Fault

HELLO = ({"role": "user", "content": "hello"},)
POLICY = RetryPolicy(attempts=3, base_delay=0.05, max_seconds=30.0)


async def first_delta(client: UpstreamClient) -> None:
    async for _ in client.stream(ChatRequest(model="gpt-4o", messages=HELLO)):
        return


async def test_a_hung_upstream_is_tried_once_within_the_first_token_deadline(
    upstream: FakeUpstream, upstream_settings: UpstreamSettings
) -> None:
    # The idle timeout is longer than the deadline: only the deadline can end a try.
    settings = upstream_settings.model_copy(
        update={"timeout_first_token": 0.5, "timeout_idle": 30.0}
    )
    upstream.fail_next(Fault("stall", after_chunks=1, seconds=30), times=3)
    async with UpstreamClient(settings, clock=FakeClock(), policy=POLICY) as client:
        with pytest.raises(UpstreamUnavailable) as raised:
            await first_delta(client)
    assert raised.value.code == "timeout"
    # Before: every try had its own deadline (3 tries x 60 s = the 182 s wait).
    assert upstream.stats.requests == 1


async def test_a_fast_failure_is_still_retried_within_the_deadline(
    upstream: FakeUpstream, upstream_settings: UpstreamSettings
) -> None:
    upstream.fail_next(Fault("error", code="api_error"), times=2)
    async with UpstreamClient(upstream_settings, clock=FakeClock(), policy=POLICY) as client:
        await first_delta(client)
    assert upstream.stats.requests == 3


async def test_a_connection_closed_before_any_reply_has_its_own_sentence(
    upstream: FakeUpstream, upstream_settings: UpstreamSettings
) -> None:
    upstream.fail_next(Fault("disconnect"), times=5)
    async with UpstreamClient(upstream_settings, clock=FakeClock(), policy=POLICY) as client:
        with pytest.raises(UpstreamUnavailable) as raised:
            await first_delta(client)
    assert raised.value.code == "connection_closed"
    assert raised.value.user_message == wording.upstream_error("", "connection_closed", None)
    assert "in time" not in raised.value.user_message
    assert upstream.stats.requests == 3  # retried: the next try may well answer
