"""One minute of chat.update for every answer of the workspace (issue 19): progress is
spent at the sustained rate and never takes the finals' reserve."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.fakes.clock import StillClock
from tests.fakes.slack import SlackFake, SlackLimits
from tests.fakes.upstream import Answer, FakeUpstream
from tests.slack.conftest import MakeBot, shown

WORDS = " ".join(f"w{n}" for n in range(40))
ANSWERS = 20


@pytest.fixture
async def slack_fake(still_clock: StillClock) -> AsyncIterator[SlackFake]:
    """Slack's real tiers, but still: the 50 chat.update of this minute never refill."""
    async with SlackFake(limits=SlackLimits.fast(stream_max_age=300.0), clock=still_clock) as fake:
        yield fake


async def test_twenty_answers_at_once_all_get_their_final_edit_from_one_minute(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    """Before: progress edits every half second spent the minute's 50 chat.update in the
    first seconds, and 19 finals waited for the window (45 s in bench/e2e.py)."""
    fake = slack_fake
    await make_bot(native_streaming=False)
    upstream.answer = Answer(text=WORDS, tokens_per_s=10)  # 4 s: progress wants ~8 edits each
    channels = [f"C0BUDGET{n:02d}" for n in range(ANSWERS)]
    for n, channel in enumerate(channels):
        fake.workspace.add_channel(channel, f"budget-{n}")
    mentions = [fake.payloads.app_mention("go on", channel=channel) for channel in channels]
    await asyncio.gather(*(fake.send_event(mention) for mention in mentions))
    await fake.wait_for(
        lambda: all(shown(fake, m["channel"], m["ts"]).strip() == WORDS for m in mentions),
        timeout=30,
        what="every final text",
    )
    updates = fake.log.calls("chat.update")
    assert fake.rate_limited["chat.update"] == 0
    assert len(updates) <= 50  # the minute's budget, finals included
    assert len(updates) >= ANSWERS  # every answer's final edit (its post had the first words)
