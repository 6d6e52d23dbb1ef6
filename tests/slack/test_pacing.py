"""chat.startStream and chat.stopStream (Tier 2) are paced under Slack's bucket,
with room for a call that reaches Slack a little late."""

from __future__ import annotations

import itertools

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.native import AppendPacer, NativeStreams, StreamOptions
from bot.streaming import UNLIMITED, EditScheduler
from tests.fakes.clock import FakeClock, StillClock
from tests.fakes.slack.limits import RateLimiter, SlackLimits


async def refused_when_late_by_turns(pacer: AppendPacer, clock: FakeClock, method: str) -> int:
    """Sixty calls as fast as the pacer allows; every other one reaches Slack 0.1 s late
    (a busy loop, a slow connection), so Slack sees some gaps 0.1 s shorter than sent."""
    arrivals = []
    for late in itertools.islice(itertools.cycle([0.1, 0.0]), 60):
        await pacer.take()
        arrivals.append(clock.monotonic() + late)
    at_slack = StillClock()
    slack = RateLimiter(SlackLimits(), clock=at_slack)
    refused = 0
    for at_slack.now in sorted(arrivals):
        refused += slack.acquire(method, "C1") is not None
    return refused


async def test_stream_starts_and_stops_are_never_refused_for_jitter() -> None:
    clock = FakeClock()
    streams = NativeStreams(
        AsyncWebClient(token="xoxb-test"), EditScheduler(UNLIMITED, clock), StreamOptions(), clock
    )
    assert await refused_when_late_by_turns(streams.starts, clock, "chat.startStream") == 0
    assert await refused_when_late_by_turns(streams.stops, clock, "chat.stopStream") == 0


async def test_at_exactly_slacks_rate_the_same_jitter_is_refused() -> None:
    """What the margin is for: the same calls, paced at exactly 20 a minute."""
    clock = FakeClock()
    exact = AppendPacer(20, clock, reserve=0)
    assert await refused_when_late_by_turns(exact, clock, "chat.stopStream") > 0
