"""The fake Discord's sharding: several gateway connections of one bot, each its shard's.

Real discord.py clients (``shard_id``/``shard_count``) and raw websockets
against the fake; see tests/fakes/discord/shards.py for the rules and sources.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.discord import (
    ChannelSpec,
    FakeConfig,
    FakeDiscord,
    GuildSpec,
    point_discord_py_at,
)

import discord  # isort: skip
from tests.fakes.discord.harness import client_options, run_client
from tests.fakes.discord.shards import shard_of

TWO_SHARDS = FakeConfig(
    shards=2,
    max_concurrency=2,  # shards 0 and 1 are in different buckets: both IDENTIFY at once
    guilds=(
        GuildSpec("zero", (ChannelSpec("zero-general"),), shard=0),
        GuildSpec("one", (ChannelSpec("one-general"),), shard=1),
    ),
)


class Listener(discord.Client):
    """A client of one shard that queues the messages it sees."""

    def __init__(self, shard_id: int, **options: Any) -> None:
        super().__init__(**client_options(shard_id=shard_id, shard_count=2, **options))
        self.seen: asyncio.Queue[discord.Message] = asyncio.Queue()

    async def on_message(self, message: discord.Message) -> None:
        await self.seen.put(message)

    async def next_message(self) -> discord.Message:
        return await asyncio.wait_for(self.seen.get(), 5)


@contextlib.asynccontextmanager
async def sharded_fake(config: FakeConfig) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(config) as fake:
        with point_discord_py_at(fake.base_url):
            yield fake


async def test_pinned_guilds_fall_on_their_shards() -> None:
    async with sharded_fake(TWO_SHARDS) as fake:
        zero, one = fake.world.guilds.values()
    assert 10**16 < zero.id < 10**20  # snowflakes
    assert 10**16 < one.id < 10**20
    assert (shard_of(zero.id, 2), shard_of(one.id, 2)) == (0, 1)
    assert shard_of(None, 2) == 0  # DMs


async def test_each_shard_gets_its_guilds_and_their_messages_dms_go_to_shard_0() -> None:
    async with sharded_fake(TWO_SHARDS) as fake:
        zero, one = fake.world.guilds.values()
        async with (
            run_client(Listener(0), fake) as shard0,
            run_client(Listener(1), fake) as shard1,
        ):
            assert [g.id for g in shard0.guilds] == [zero.id]
            assert [g.id for g in shard1.guilds] == [one.id]

            for client, name in ((shard1, "one-general"), (shard0, "zero-general")):
                sent = fake.stats().counts.get("dispatched:MESSAGE_CREATE", 0)
                await fake.dispatch_message(fake.channel(name).id, content=f"hi {name}")
                assert fake.stats().counts["dispatched:MESSAGE_CREATE"] == sent + 1  # one shard
                assert (await client.next_message()).content == f"hi {name}"

            dm = fake.open_dm("alice")
            await fake.dispatch_message(dm, content="a direct message")
            assert (await shard0.next_message()).content == "a direct message"
            assert shard1.seen.empty()
    assert fake.stats().counts["identifies"] == 2
    assert fake.stats().counts.get("identify_too_fast", 0) == 0


async def test_gateway_bot_says_the_shards_and_the_session_start_limit() -> None:
    config = FakeConfig(shards=4, max_concurrency=2, session_start_total=1000)
    async with sharded_fake(config) as fake, aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bot {fake.token}"}
        async with http.get(fake.api_base + "/gateway/bot", headers=headers) as response:
            before = await response.json()
        async with http.ws_connect(fake.gateway_url) as ws:
            assert await identify(ws, fake, 3, 4) == "READY"
        async with http.get(fake.api_base + "/gateway/bot", headers=headers) as response:
            after = await response.json()
    assert before["url"] == fake.gateway_url
    assert before["shards"] == 4
    limit = before["session_start_limit"]
    assert limit == {
        "total": 1000,
        "remaining": 1000,
        "reset_after": limit["reset_after"],
        "max_concurrency": 2,
    }
    assert limit["reset_after"] > 0
    assert after["session_start_limit"]["remaining"] == 999


@pytest.mark.parametrize(("max_concurrency", "refused"), [(1, 1), (2, 0)])
async def test_an_identify_faster_than_its_bucket_allows_gets_invalid_session(
    max_concurrency: int, refused: int
) -> None:
    """Shards 0 and 1 share bucket 0 when max_concurrency is 1: the second
    IDENTIFY within 5 s is answered op 9 (not resumable); with 2, both start."""
    config = FakeConfig(shards=2, max_concurrency=max_concurrency, refuse_fast_identify=True)
    async with (
        sharded_fake(config) as fake,
        aiohttp.ClientSession() as http,
        http.ws_connect(fake.gateway_url) as first,
        http.ws_connect(fake.gateway_url) as second,
    ):
        assert await identify(first, fake, 0, 2) == "READY"
        answer = await identify(second, fake, 1, 2)
    assert answer == ("INVALID_SESSION" if refused else "READY")
    assert fake.stats().counts.get("identify_too_fast", 0) == refused
    assert fake.stats().counts["identifies"] == 2 - refused


async def test_the_global_limit_counts_every_connection_of_the_token() -> None:
    """Three messages per shard fit the window of five; six from two shards do not."""
    config = dataclasses.replace(TWO_SHARDS, global_limit=5)
    async with sharded_fake(config) as fake:
        async with (
            run_client(Listener(0), fake) as shard0,
            run_client(Listener(1), fake) as shard1,
        ):
            before = len(fake.requests)
            targets = [(shard0, "zero-general"), (shard1, "one-general")]
            await asyncio.gather(
                *(
                    client.http.send_message(fake.channel(name).id, params=text(f"{name} {i}"))
                    for client, name in targets
                    for i in range(3)
                )
            )
        sends = fake.requests[before:]
    assert fake.stats().rate_limited["global"] >= 1
    assert len([r for r in sends if r.status == 200]) == 6  # discord.py retried the 429s
    assert len(fake.messages(fake.channel("zero-general").id)) == 3


async def test_by_default_a_too_fast_identify_is_counted_but_starts() -> None:
    async with sharded_fake(FakeConfig(shards=2)) as fake, aiohttp.ClientSession() as http:
        for shard in (0, 1):
            async with http.ws_connect(fake.gateway_url) as ws:
                assert await identify(ws, fake, shard, 2) == "READY"
    assert fake.stats().counts["identify_too_fast"] == 1
    assert fake.stats().counts["identifies"] == 2


def text(content: str) -> Any:
    return discord.http.handle_message_parameters(content=content)


async def identify(
    ws: aiohttp.ClientWebSocketResponse, fake: FakeDiscord, shard: int, count: int
) -> str:
    """IDENTIFY as shard ``shard`` of ``count``; the name of what the fake answers."""
    hello = await ws.receive_json()
    assert hello["op"] == 10
    await ws.send_json(
        {
            "op": 2,
            "d": {
                "token": fake.token,
                "intents": 1 | 1 << 9,
                "properties": {},
                "shard": [shard, count],
            },
        }
    )
    frame = await ws.receive_json()
    return "INVALID_SESSION" if frame["op"] == 9 else str(frame["t"])
