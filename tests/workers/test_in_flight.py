"""Questions in flight are counted across workers: two workers' allowances on one Redis
share the per-person and the overall limits, and a dead worker's places expire."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from bot.allowance import Allowance, Limit
from bot.domain import Incoming, ThreadKey
from bot.settings import QuotaSettings
from storage import MemoryStore
from storage.redis import RedisCoordination

GUILD, CHANNEL = "1098765432109876543", "1123456789012345678"
ADA, BOB = "1111111111111111111", "2222222222222222222"


def question(author: str, n: int) -> Incoming:
    key = ThreadKey("discord", GUILD, CHANNEL, f"11876543210987654{n:02d}")
    return Incoming(key=key, message_id=f"13{n:018d}", text="hi", author_id=author, author_name="x")


@contextlib.asynccontextmanager
async def two_workers(
    redis_url: str, quota: QuotaSettings
) -> AsyncIterator[tuple[list[Allowance], RedisCoordination]]:
    prefix = f"test-{uuid.uuid4().hex}:"
    async with contextlib.AsyncExitStack() as stack:
        allowances, redis = [], None
        for _ in range(2):
            redis = await stack.enter_async_context(
                await RedisCoordination.connect(redis_url, prefix=prefix)
            )
            allowances.append(Allowance(MemoryStore(), quota, coordination=redis))
        assert redis is not None
        yield allowances, redis


QUOTA = QuotaSettings.off().model_copy(update={"user_max_in_flight": 1, "max_in_flight": 2})


async def test_one_persons_questions_in_flight_are_counted_on_every_worker(redis_url: str) -> None:
    async with two_workers(redis_url, QUOTA) as ([a, b], _):
        async with a.admitted(question(ADA, 1)) as first:
            assert first is None
            async with b.admitted(question(ADA, 2)) as second:
                assert second is not None
                assert second.limit is Limit.USER_IN_FLIGHT
        async with b.admitted(question(ADA, 3)) as after:  # the first one is done
            assert after is None


async def test_everyones_questions_in_flight_are_counted_on_every_worker(redis_url: str) -> None:
    async with (
        two_workers(redis_url, QUOTA) as ([a, b], _),
        a.admitted(question(ADA, 1)) as first,
        b.admitted(question(BOB, 2)) as second,
    ):
        assert (first, second) == (None, None)
        async with a.admitted(question("3333333333333333333", 3)) as third:
            assert third is not None
            assert third.limit is Limit.IN_FLIGHT


LEASE = 0.3


async def test_a_dead_workers_places_expire(redis_url: str) -> None:
    async with two_workers(redis_url, QUOTA) as ([a, _], redis):
        # A worker admitted Ada's question and was SIGKILLed: nobody renews the place.
        assert await redis.enter(f"in-flight:user:discord:{ADA}", "dead-question", 1, LEASE)
        async with a.admitted(question(ADA, 1)) as refused:
            assert refused is not None
        await asyncio.sleep(LEASE + 0.2)
        async with a.admitted(question(ADA, 2)) as admitted:
            assert admitted is None


async def test_a_live_workers_places_are_renewed_while_it_answers(redis_url: str) -> None:
    async with two_workers(redis_url, QUOTA) as (_, redis):
        a = Allowance(MemoryStore(), QUOTA, coordination=redis, lease=LEASE)
        async with a.admitted(question(ADA, 1)) as first:
            assert first is None
            await asyncio.sleep(3 * LEASE)  # a long answer: the place outlives its lease
            async with a.admitted(question(ADA, 2)) as second:
                assert second is not None
