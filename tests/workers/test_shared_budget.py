"""Two workers' edit schedulers spend one platform budget through Redis: together they
never exceed it (Discord's 50/s per bot, a Slack workspace's chat.update tier)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

from bot.ports import SystemClock
from bot.render import render_discord
from bot.shared_budget import SharedBudget
from bot.streaming import BudgetPlan, EditScheduler, Rate, StreamedReply
from storage.redis import RedisCoordination
from tests.fakes.target import FakePlatform

# The platform's global budget, and the plan each worker knows.
GLOBAL = Rate(10, 1.0)
PLAN = BudgetPlan(overall=GLOBAL)


@contextlib.asynccontextmanager
async def two_workers(redis_url: str, *, shared: bool) -> AsyncIterator[list[EditScheduler]]:
    prefix = f"test-{uuid.uuid4().hex}:"
    async with contextlib.AsyncExitStack() as stack:
        schedulers = []
        for _ in range(2):
            redis = await stack.enter_async_context(
                await RedisCoordination.connect(redis_url, prefix=prefix)
            )
            budget = SharedBudget(redis, "discord:123456789012345678") if shared else None
            scheduler = EditScheduler(PLAN, SystemClock(), shared=budget)
            schedulers.append(await stack.enter_async_context(scheduler))
        yield schedulers


async def answer(reply: StreamedReply, tokens: int) -> None:
    await reply.start()
    for n in range(tokens):
        await reply.append(f"word{n} ")
        await asyncio.sleep(0.01)
    await reply.finish()


async def burst(platform: FakePlatform, schedulers: list[EditScheduler]) -> None:
    """Each worker streams three answers and sends eight other requests (buttons, threads)."""
    work = []
    for worker, scheduler in enumerate(schedulers):
        for n in range(3):
            target = platform.target(f"channel-{worker}-{n}")
            work.append(answer(StreamedReply(target, scheduler, render_discord), 30))
        for n in range(8):
            target = platform.target(f"channel-{worker}-other-{n}")
            work.append(scheduler.spend(None, lambda t=target: t.post("a button")))
    # A request that meets a 429 outside a reply is the caller's to retry: counted, not raised.
    await asyncio.gather(*work, return_exceptions=True)


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "each-its-own"])
async def test_two_workers_never_exceed_one_global_budget(redis_url: str, shared: bool) -> None:
    platform = FakePlatform(SystemClock(), overall_rate=GLOBAL)
    async with two_workers(redis_url, shared=shared) as schedulers:
        await burst(platform, schedulers)
    if shared:
        assert platform.rate_limited == 0
    else:  # what the shared budget prevents: each worker spends the whole budget
        assert platform.rate_limited > 0
    assert platform.requests > 2 * GLOBAL.count  # more than one window's worth was sent
