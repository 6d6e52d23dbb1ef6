"""Stop reaches whichever worker streams the answer: a stop requested through one
worker's service ends the answer another worker streams, kept as interrupted."""

from __future__ import annotations

import asyncio
import uuid

from bot import wording
from bot.domain import Role, ThreadKey, TurnStatus
from bot.service import ReplyService
from bot.settings import UpstreamSettings
from bot.upstream import UpstreamClient
from storage import MemoryStore
from storage.redis import RedisCoordination
from tests.core.test_service import RecordingSink, message
from tests.fakes.upstream import Answer, FakeUpstream
from tests.services import reply_service

KEY = ThreadKey("slack", "T0123ABCD", "C0123ABCD", "1700000000.000100")
QUESTION_TS = "1700000000.000200"  # the question's ts: the Stop button's request id


async def test_a_stop_requested_on_one_worker_ends_the_answer_on_another(
    redis_url: str,
    upstream: FakeUpstream,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
) -> None:
    upstream.answer = Answer(tokens=3_000, tokens_per_s=100)  # half a minute, unless stopped
    prefix = f"test-{uuid.uuid4().hex}:"
    store = MemoryStore()  # the workers share the history (PostgreSQL in production)
    async with (
        await RedisCoordination.connect(redis_url, prefix=prefix) as redis_a,
        await RedisCoordination.connect(redis_url, prefix=prefix) as redis_b,
    ):
        worker_a = reply_service(store, client, upstream_settings, coordination=redis_a)
        worker_b = reply_service(store, client, upstream_settings, coordination=redis_b)
        sink = RecordingSink()
        answering = asyncio.create_task(
            worker_b.handle(message("tell me everything", key=KEY, mid=QUESTION_TS), sink)
        )
        worker_b.stops.watch("slack", QUESTION_TS, answering)
        while not sink.appended:  # streaming on worker B
            await asyncio.sleep(0.01)
        await worker_a.stops.request("slack", QUESTION_TS)  # the click landed on worker A
        await asyncio.wait([answering], timeout=10)
        assert answering.cancelled()  # ended as a click ends it on the worker it lands on
    assert sink.footer == wording.stopped_notice()  # the thread is told, as for a click
    question = await store.find_by_message("slack", QUESTION_TS)
    assert question is not None
    assert question.turn.id is not None
    answer = await store.get_turn(question.turn.id + 1)  # the answer follows its question
    assert answer is not None
    assert (answer.role, answer.status) == (Role.ASSISTANT, TurnStatus.INTERRUPTED)


async def test_an_answer_nobody_stops_is_not_stopped(
    upstream: FakeUpstream, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> None:
    service: ReplyService = reply_service(MemoryStore(), client, upstream_settings)
    answering = asyncio.create_task(service.handle(message("hi", key=KEY), RecordingSink()))
    service.stops.watch("slack", "another-request", answering)
    await service.stops.request("slack", "some-other-answer")
    assert (await answering).text == "You said: hi"
