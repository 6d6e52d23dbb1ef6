"""A Stop clicked on a worker that is not streaming the answer: the worker the click lands
on checks who asked (in the shared store) and stops the answer where it streams."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp

from bot import wording
from bot.domain import Incoming, ThreadKey
from storage.redis import RedisCoordination
from tests.core.test_service import RecordingSink
from tests.discord.harness import STOP, Rig
from tests.fakes.discord.interactions import UPDATE
from tests.fakes.upstream import FakeUpstream, Fault
from tests.services import reply_service


async def post_stop_button(rig: Rig, channel_id: int, request_id: str) -> int:
    """The Stop button as the streaming worker posted it (through Discord's REST API)."""
    body = {
        "content": "…",
        "components": [
            {
                "type": 1,
                "components": [
                    {"type": 2, "style": 4, "label": "Stop", "custom_id": f"{STOP}{request_id}"}
                ],
            }
        ],
    }
    headers = {"Authorization": f"Bot {rig.fake.token}"}
    url = f"{rig.fake.api_base}/channels/{channel_id}/messages"
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as r:
        assert r.status == 200, await r.text()
        return int((await r.json())["id"])


async def test_a_stop_clicked_on_one_worker_stops_the_answer_on_another(
    rig: Rig, upstream: FakeUpstream, redis_url: str
) -> None:
    fake = rig.fake
    upstream.fail_next(Fault("stall", after_chunks=3, seconds=30))  # streams until stopped
    prefix = f"test-{uuid.uuid4().hex}:"
    async with (
        await RedisCoordination.connect(redis_url, prefix=prefix) as redis_a,
        await RedisCoordination.connect(redis_url, prefix=prefix) as redis_b,
    ):
        rig.coordination = redis_a  # worker A: the connection the click reaches
        worker_b = reply_service(rig.store, rig.client, rig.upstream_settings, coordination=redis_b)
        async with rig.bot():
            channel = fake.channel()
            alice = fake.world.user("alice")
            asked = await fake.dispatch_message(content="tell me a long story", author=alice)
            question = Incoming(
                key=ThreadKey("discord", str(channel.guild_id), str(channel.id), str(asked)),
                message_id=str(asked),
                text="tell me a long story",
                author_id=str(alice.id),
                author_name="alice",
            )
            sink = RecordingSink()
            answering = asyncio.create_task(worker_b.handle(question, sink))
            worker_b.stops.watch("discord", str(asked), answering)
            holder = await post_stop_button(rig, channel.id, str(asked))
            while not sink.appended:  # streaming on worker B
                await asyncio.sleep(0.01)

            not_yours = await fake.click_button(holder, f"{STOP}{asked}", user="bob")
            await fake.wait_for(lambda: not_yours.acknowledged)
            assert not answering.done()
            stopped = await fake.click_button(holder, f"{STOP}{asked}", user=alice)
            await asyncio.wait([answering], timeout=10)

    assert not_yours.response_data is not None
    assert not_yours.response_data["content"] == wording.stop_not_yours("discord")
    assert stopped.response_type == UPDATE  # the click removed the button at once
    assert answering.cancelled()  # stopped on worker B, as a click there stops it
    assert sink.footer == wording.stopped_notice()
