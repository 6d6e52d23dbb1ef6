"""discord.py's own requests (start-up, command sync) count in the bot's global budget."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from bot.settings import UpstreamSettings
from bot.streaming import DISCORD_CHANNEL_RATE, BudgetPlan, Rate
from bot.upstream import UpstreamClient
from storage import MemoryStore
from tests.discord.harness import BUCKET, FAST_DISCORD, RecordingDiscord, Rig
from tests.fakes.upstream import Answer, FakeUpstream

# A global limit small enough that start-up's three requests plus one answer's
# thread, post and edits overflow one window unless all of them are counted.
GLOBAL = Rate(6, 1.0)


async def test_start_up_requests_and_the_first_answers_share_the_global_budget(
    client: UpstreamClient, upstream_settings: UpstreamSettings, upstream: FakeUpstream
) -> None:
    config = dataclasses.replace(
        FAST_DISCORD, global_limit=GLOBAL.count, global_period=GLOBAL.per_seconds
    )
    upstream.answer = Answer(text="one two three four five six", tokens_per_s=40)
    async with RecordingDiscord(config) as fake:
        rig = Rig(
            fake,
            MemoryStore(),
            client,
            upstream_settings,
            budget=BudgetPlan(channel=BUCKET, overall=GLOBAL),
        )
        async with rig.bot():
            asked = [
                await fake.dispatch_message(content=f"question {n}", mentions_bot=True)
                for n in range(2)
            ]
            for question in asked:
                [answer] = await rig.answered(await rig.thread_of(question), timeout=15)
                assert answer.content == "one two three four five six"
        startup = [r for r in fake.requests if r.route.startswith(("GET /users", "GET /oauth2"))]
        assert len(startup) == 2  # the requests this test is about were made
        assert fake.stats().rate_limited == {}


async def test_an_answer_never_empties_its_channels_bucket(
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """discord.py holds the request that empties a bucket until the bucket resets: an
    answer whose final edit did so kept its slot and its thread's next question waiting
    up to 5 s. threadline's channel budget leaves the bucket's last request unused."""
    period = BUCKET.per_seconds  # the fake's shortened 5 s, scaled alike
    upstream.answer = Answer(tokens=40, tokens_per_s=40)  # wants more edits than allowed
    budget = BudgetPlan(channel=Rate(DISCORD_CHANNEL_RATE.count, period), overall=Rate(50, 1.0))
    async with RecordingDiscord(FAST_DISCORD) as fake:
        rig = Rig(fake, MemoryStore(), client, upstream_settings, budget=budget)
        with caplog.at_level(logging.DEBUG, logger="discord.http"):
            async with rig.bot():
                asked = await fake.dispatch_message(content="a long one", mentions_bot=True)
                thread = await rig.thread_of(asked)
                await rig.answered(thread, timeout=15)
                await fake.dispatch_message(thread, content="and again")
                await fake.wait_for(lambda: len(upstream.requests) == 2 or None, 15)
    sent = [r for r in fake.requests if f"/channels/{thread}/messages" in r.path]
    assert len(sent) > FAST_DISCORD.message_bucket_limit  # the bucket was under pressure
    assert "has been exhausted" not in caplog.text
