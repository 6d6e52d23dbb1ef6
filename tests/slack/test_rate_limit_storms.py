"""429 storms: several rate-limit refusals in a row, and not a word lost.

The fake's buckets refill by its clock. Here that clock stands still until the
test moves it, so once a method's one call is spent every retry is refused
with 429 (``Retry-After: 1``), however long the bot waits; the test lets the
storm pass after several refusals in a row.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.clock import StillClock
from tests.fakes.slack import RateLimit, SlackFake, SlackLimits
from tests.fakes.upstream import Answer, FakeUpstream
from tests.slack.conftest import GENERAL, MakeBot, bot_messages, wait_shown

WORDS = " ".join(f"w{n}" for n in range(40))
STORM = 3  # 429s in a row; the native path gives up on streaming after 5


@pytest.fixture
async def slack_fake(
    still_clock: StillClock, request: pytest.FixtureRequest
) -> AsyncIterator[SlackFake]:
    """The loopback Slack where ``request.param`` (a method) gets one call per bucket refill."""
    limits = SlackLimits.fast(stream_max_age=300.0).with_method_limit(
        request.param, RateLimit(burst=1, interval=0.5)
    )
    async with SlackFake(limits=limits, clock=still_clock) as fake:
        yield fake


def in_a_row(statuses: list[int], status: int) -> int:
    """The longest run of ``status`` in ``statuses``."""
    longest = run = 0
    for each in statuses:
        run = run + 1 if each == status else 0
        longest = max(longest, run)
    return longest


@pytest.mark.parametrize(
    ("slack_fake", "native"),
    [("chat.appendStream", True), ("chat.update", False)],
    ids=["native-appendStream", "fallback-chat.update"],
    indirect=["slack_fake"],
)
async def test_a_429_storm_loses_no_text(
    slack_fake: SlackFake,
    still_clock: StillClock,
    make_bot: MakeBot,
    upstream: FakeUpstream,
    native: bool,
) -> None:
    method = "chat.appendStream" if native else "chat.update"
    bot = await make_bot(native_streaming=native, stream_rollover_seconds=60.0)
    upstream.answer = Answer(text=WORDS, tokens_per_s=40)  # a second of tokens
    mention = slack_fake.payloads.app_mention("through the storm")
    await slack_fake.send_event(mention)
    await slack_fake.wait_for(
        lambda: slack_fake.rate_limited[method] >= STORM, timeout=10, what=f"{STORM} 429s"
    )
    still_clock.now += 1.0  # the storm passes: the bucket refills once
    await wait_shown(slack_fake, GENERAL, mention["ts"], WORDS, timeout=10)
    await bot.idle()

    statuses = [r.status for r in slack_fake.log.calls(method)]
    assert in_a_row(statuses, 429) >= STORM
    assert statuses[-1] == 200
    [answer] = bot_messages(slack_fake, GENERAL, mention["ts"])  # one message, all of it
    if native:
        assert (answer.markdown, answer.stream_state) == (WORDS, "stopped")
        assert slack_fake.log.calls("chat.update") == []
    else:
        assert answer.text == WORDS
