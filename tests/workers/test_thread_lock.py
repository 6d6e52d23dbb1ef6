"""One answer at a time per thread, across workers: two services (two workers) on one
Redis take a thread's questions one after the other, and a dead worker's lock expires."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from bot.domain import ThreadKey
from bot.service import Outcome, ReplyService
from bot.settings import UpstreamSettings
from bot.upstream import UpstreamClient
from storage import MemoryStore
from storage.redis import RedisCoordination
from tests.core.test_service import RecordingSink, message
from tests.fakes.upstream import Answer, FakeUpstream
from tests.services import reply_service

KEY = ThreadKey("discord", "1098765432109876543", "1123456789012345678", "1187654321098765432")
LOCK_KEY = f"thread:discord:{KEY.workspace}:{KEY.channel}:{KEY.thread}"


@contextlib.asynccontextmanager
async def workers(
    redis_url: str, client: UpstreamClient, settings: UpstreamSettings, count: int
) -> AsyncIterator[list[tuple[ReplyService, RedisCoordination]]]:
    prefix = f"test-{uuid.uuid4().hex}:"
    async with contextlib.AsyncExitStack() as stack:
        found = []
        for _ in range(count):
            redis = await stack.enter_async_context(
                await RedisCoordination.connect(redis_url, prefix=prefix)
            )
            service = reply_service(MemoryStore(), client, settings, coordination=redis)
            found.append((service, redis))
        yield found


async def test_two_workers_answer_one_thread_one_at_a_time(
    redis_url: str,
    upstream: FakeUpstream,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
) -> None:
    upstream.answer = Answer(tokens=20, tokens_per_s=100)  # each answer streams a while
    async with workers(redis_url, client, upstream_settings, 2) as both:
        sinks = [RecordingSink(), RecordingSink()]
        results = await asyncio.gather(
            *(
                service.handle(message(f"question {n}", key=KEY), sink)
                for n, ((service, _), sink) in enumerate(zip(both, sinks, strict=True))
            )
        )
    assert [r.outcome for r in results] == [Outcome.ANSWERED, Outcome.ANSWERED]
    first, second = sorted(sinks, key=lambda sink: sink.started_at or 0.0)
    assert first.finished_at is not None
    assert second.started_at is not None
    assert first.finished_at <= second.started_at  # never two answers in one thread at once


async def test_a_dead_workers_thread_lock_expires(
    redis_url: str,
    upstream: FakeUpstream,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
) -> None:
    async with workers(redis_url, client, upstream_settings, 1) as [(service, redis)]:
        # A worker took the thread and was SIGKILLed: nobody renews its lease.
        assert await redis.try_lock(LOCK_KEY, "dead-worker", 0.5)
        sink = RecordingSink()
        async with asyncio.timeout(30):
            result = await service.handle(message("anyone there?", key=KEY), sink)
    assert result.outcome is Outcome.ANSWERED
    assert sink.text == "You said: anyone there?"
