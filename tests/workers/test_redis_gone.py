"""A Redis that goes away while threadline runs: every call is the core's
``CoordinationUnavailable`` (never redis-py's error), and a question asked meanwhile
is kept and answered with a sentence, not dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot import wording
from bot.domain import ThreadKey, TurnStatus
from bot.errors import CoordinationUnavailable
from bot.settings import UpstreamSettings
from bot.upstream import UpstreamClient
from storage import MemoryStore
from storage.redis import RedisCoordination
from tests.core.test_service import RecordingSink, message
from tests.fakes.upstream import FakeUpstream
from tests.servers.redis import redis_server
from tests.services import reply_service

KEY = ThreadKey("discord", "1098765432109876543", "1123456789012345678", "1187654321098765432")


@pytest.fixture
async def gone() -> AsyncIterator[RedisCoordination]:
    """A client whose server has stopped since it connected."""
    with redis_server() as url:
        redis = await RedisCoordination.connect(url)
    try:
        yield redis
    finally:
        await redis.close()


async def test_every_call_to_a_gone_redis_is_coordination_unavailable(
    gone: RedisCoordination,
) -> None:
    calls = [
        gone.take_rate("k", 1, 1.0),
        gone.first_sighting("k", 1.0),
        gone.try_lock("k", "o", 1.0),
        gone.renew_lock("k", "o", 1.0),
        gone.unlock("k", "o"),
        gone.enter("k", "m", 1, 1.0),
        gone.leave("k", "m"),
        gone.members("k"),
        gone.request_stop("k", 1.0),
        gone.stop_requested("k"),
    ]
    for call in calls:
        with pytest.raises(CoordinationUnavailable) as raised:
            await call
        assert raised.value.user_message == wording.coordination_unavailable()


async def test_a_question_asked_while_redis_is_gone_is_kept_and_told(
    gone: RedisCoordination,
    upstream: FakeUpstream,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
) -> None:
    store = MemoryStore()
    service = reply_service(store, client, upstream_settings, coordination=gone)
    sink = RecordingSink()
    await service.handle(message("are you there?", key=KEY, mid="1234567890123456789"), sink)
    assert sink.footer == f"⚠️ {wording.coordination_unavailable()}"
    question = await store.find_by_message("discord", "1234567890123456789")
    assert question is not None
    assert question.turn.status is TurnStatus.FAILED  # kept, never asked again
    assert upstream.requests == []


async def test_a_regenerate_while_redis_is_gone_is_told_and_keeps_the_old_answer(
    gone: RedisCoordination,
    upstream: FakeUpstream,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
) -> None:
    store = MemoryStore()
    answered = await reply_service(store, client, upstream_settings).handle(
        message("are you there?", key=KEY, mid="1234567890123456789"), RecordingSink()
    )
    assert answered.turn_id is not None
    service = reply_service(store, client, upstream_settings, coordination=gone)
    sink = RecordingSink()
    await service.regenerate(KEY, answered.turn_id, sink)
    assert sink.footer == f"⚠️ {wording.coordination_unavailable()}"
    old = await store.get_turn(answered.turn_id)
    assert old is not None
    assert old.status is TurnStatus.COMPLETE  # still the answer: nothing replaced it
    assert len(upstream.requests) == 1
