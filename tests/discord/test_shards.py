"""Shards: each DiscordBot answers its own shards' guilds (DMs: shard 0), and IDENTIFY
waits for its max_concurrency bucket, shared by every shard worker through Coordination.

Two bots in this process stand for two shard workers (tests/test_shard_workers.py
runs real ``threadline run`` processes); each has its own store, so the store
that holds an answer says which worker gave it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

import pytest

from adapters.discord import DiscordBot
from bot.coordination import Coordination, InProcessCoordination
from bot.settings import UpstreamSettings
from bot.upstream import UpstreamClient
from storage import MemoryStore
from tests.discord.harness import FAST_DISCORD, RecordingDiscord, Rig
from tests.fakes.discord import ChannelSpec, GuildSpec, Message, point_discord_py_at

SHARDED = dataclasses.replace(
    FAST_DISCORD,
    shards=2,  # what GET /gateway/bot recommends
    max_concurrency=2,  # shards 0 and 1 in different buckets: no IDENTIFY waits
    guilds=(
        GuildSpec("zero", (ChannelSpec("zero-general"),), shard=0),
        GuildSpec("one", (ChannelSpec("one-general"),), shard=1),
    ),
)


@pytest.fixture
async def sharded() -> AsyncIterator[RecordingDiscord]:
    async with RecordingDiscord(SHARDED) as fake:
        yield fake


def workers(
    fake: RecordingDiscord,
    client: UpstreamClient,
    upstream: UpstreamSettings,
    shared: Coordination | None = None,
) -> tuple[Rig, Rig]:
    """Two rigs on one fake, each with its own store (as two processes would be)."""
    return (
        Rig(fake, MemoryStore(), client, upstream, coordination=shared),
        Rig(fake, MemoryStore(), client, upstream, coordination=shared),
    )


async def ask(rig: Rig, channel_name: str) -> Message:
    fake = rig.fake
    asked = await fake.dispatch_message(
        fake.channel(channel_name).id, content=f"hello from {channel_name}", mentions_bot=True
    )
    [answer] = await rig.answered(await rig.thread_of(asked))
    return answer


async def answered_by(rigs: tuple[Rig, Rig], answer: Message) -> list[int]:
    return [
        i
        for i, rig in enumerate(rigs)
        if await rig.store.find_by_message("discord", str(answer.id)) is not None
    ]


async def test_two_shard_workers_each_answer_their_guild_once_and_shard_0_the_dms(
    sharded: RecordingDiscord, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> None:
    fake = sharded
    zero, one = fake.world.guilds
    rigs = workers(fake, client, upstream_settings)
    async with (
        rigs[0].bot(shard_count=2, shard_ids=[0]) as bot0,
        rigs[1].bot(shard_count=2, shard_ids=[1]) as bot1,
    ):
        assert ([g.id for g in bot0.guilds], [g.id for g in bot1.guilds]) == ([zero], [one])
        on_one = await ask(rigs[1], "one-general")
        on_zero = await ask(rigs[0], "zero-general")
        dm = fake.open_dm("bob")
        await fake.dispatch_message(dm, content="a direct question")
        [in_dm] = await rigs[0].answered(dm)

    assert await answered_by(rigs, on_zero) == [0]
    assert await answered_by(rigs, on_one) == [1]
    assert await answered_by(rigs, in_dm) == [0]
    for answer in (on_zero, on_one, in_dm):  # once: no second worker answered too
        assert len(rigs[0].bot_messages(answer.channel_id)) == 1
    assert fake.stats().rate_limited == {}


async def test_unset_the_bot_runs_every_shard_discord_recommends(
    sharded: RecordingDiscord, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> None:
    rig = Rig(sharded, MemoryStore(), client, upstream_settings)
    async with rig.bot() as bot:
        assert (bot.shard_count, sorted(bot.shards)) == (2, [0, 1])
        assert sorted(g.id for g in bot.guilds) == sorted(sharded.world.guilds)
        await ask(rig, "zero-general")
        await ask(rig, "one-general")
    assert sharded.stats().counts["identifies"] == 2
    assert len(sharded.requests_to("GET /gateway/bot")) >= 1


async def test_identify_waits_for_the_bucket_the_shard_workers_share(
    client: UpstreamClient, upstream_settings: UpstreamSettings
) -> None:
    """max_concurrency 1: shards 0 and 1 share one bucket, one IDENTIFY per 5 s
    (Discord's window; the fake refuses a faster one with op 9). Two workers starting together
    take turns through their shared Coordination: the fake refuses none."""
    config = dataclasses.replace(SHARDED, max_concurrency=1, refuse_fast_identify=True)
    shared = InProcessCoordination()
    async with RecordingDiscord(config) as fake, contextlib.AsyncExitStack() as stack:
        # Both bots point discord.py at the fake and put back what they found, in
        # the order they happened to start: the originals come back here.
        stack.enter_context(point_discord_py_at(fake.base_url))
        rigs = workers(fake, client, upstream_settings, shared=shared)
        bots: list[DiscordBot] = await asyncio.gather(
            stack.enter_async_context(rigs[0].bot(shard_count=2, shard_ids=[0])),
            stack.enter_async_context(rigs[1].bot(shard_count=2, shard_ids=[1])),
        )
        assert all(bot.is_ready() for bot in bots)
        await ask(rigs[1], "one-general")
    assert fake.stats().counts["identifies"] == 2
    assert fake.stats().counts.get("identify_too_fast", 0) == 0
