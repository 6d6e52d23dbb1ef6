"""discord.py's own requests (start-up, command sync) count in the bot's global budget."""

from __future__ import annotations

import dataclasses

from bot.settings import UpstreamSettings
from bot.streaming import BudgetPlan, Rate
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
