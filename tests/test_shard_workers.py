"""Two ``threadline run`` processes, shards 0 and 1 of 2, against one loopback Discord.

Each worker keeps its own SQLite file here, so the file holding an answer says
which worker gave it (shared history is the PostgreSQL store's job). With
``REDIS_URL`` the workers take IDENTIFY turns and spend Discord's global
50 requests/s from the same server.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from storage import SqliteStore
from tests.fakes.discord import ChannelSpec, FakeConfig, FakeDiscord, GuildSpec, Message
from tests.fakes.upstream import FakeUpstream
from tests.test_run import discord_env, start_run, stop

SHARDED = FakeConfig(
    shards=2,
    max_concurrency=2,  # the two workers IDENTIFY in different buckets
    guilds=(
        GuildSpec("zero", (ChannelSpec("zero-general"),), shard=0),
        GuildSpec("one", (ChannelSpec("one-general"),), shard=1),
    ),
)


def shard_env(
    upstream: FakeUpstream, fake: FakeDiscord, tmp_path: Path, shard: int
) -> dict[str, str]:
    return discord_env(upstream, fake, tmp_path) | {
        "DISCORD__SHARD_COUNT": "2",
        "DISCORD__SHARD_IDS": f"[{shard}]",
        "STORAGE__PATH": str(tmp_path / f"shard-{shard}.db"),
        "OPS__PORT": "0",
    }


async def answer_to(fake: FakeDiscord, text: str) -> Message:
    def found() -> Message | None:
        answers = [m for m in fake.world.messages.values() if m.content == f"You said: {text}"]
        return answers[0] if answers else None

    return await fake.wait_for(found, 30)


async def holders(tmp_path: Path, answer: Message) -> list[int]:
    """The workers whose database holds ``answer``."""
    found = []
    for shard in (0, 1):
        async with await SqliteStore.open(tmp_path / f"shard-{shard}.db") as store:
            if await store.find_by_message("discord", str(answer.id)) is not None:
                found.append(shard)
    return found


async def test_two_shard_processes_each_answer_their_guild_once_and_shard_0_the_dms(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    async with FakeDiscord(SHARDED) as fake:
        processes = [await start_run(shard_env(upstream, fake, tmp_path, s)) for s in (0, 1)]
        try:
            counts = fake.stats
            await fake.wait_for(lambda: counts().counts.get("command_syncs", 0) >= 2, 60)
            await fake.wait_for(lambda: counts().counts.get("identifies", 0) >= 2, 60)
            questions = {"zero-general": "hello zero", "one-general": "hello one"}
            for channel, text in questions.items():
                await fake.dispatch_message(
                    fake.channel(channel).id, content=text, mentions_bot=True
                )
            await fake.dispatch_message(fake.open_dm("bob"), content="hello in private")
            answers = [await answer_to(fake, t) for t in [*questions.values(), "hello in private"]]
        finally:
            stopped = [await stop(process) for process in processes]
        replies = [m for m in fake.world.messages.values() if m.content.startswith("You said:")]
    assert [code for code, _ in stopped] == [0, 0], stopped
    assert len(replies) == 3  # each question answered once
    assert [await holders(tmp_path, a) for a in answers] == [[0], [1], [0]]
    assert fake.stats().counts.get("identify_too_fast", 0) == 0


async def test_shard_processes_sharing_redis_take_turns_at_identify(
    upstream: FakeUpstream, tmp_path: Path, redis_url: str
) -> None:
    """max_concurrency 1: both shards are in one bucket, one IDENTIFY per 5 s, and
    Discord answers a faster one op 9. Started together, the workers wait for
    each other through Redis: none is refused (each alone: one is)."""
    config = dataclasses.replace(SHARDED, max_concurrency=1, refuse_fast_identify=True)
    async with FakeDiscord(config) as fake:
        envs = [shard_env(upstream, fake, tmp_path, s) | {"REDIS_URL": redis_url} for s in (0, 1)]
        processes = await asyncio.gather(*(start_run(env) for env in envs))
        try:
            await fake.wait_for(lambda: fake.stats().counts.get("identifies", 0) >= 2, 60)
            await fake.dispatch_message(
                fake.channel("one-general").id, content="still there?", mentions_bot=True
            )
            answer = await answer_to(fake, "still there?")
        finally:
            stopped = [await stop(process) for process in processes]
    assert [code for code, _ in stopped] == [0, 0], stopped
    assert fake.stats().counts.get("identify_too_fast", 0) == 0
    assert await holders(tmp_path, answer) == [1]


async def test_forty_mentions_at_once_across_two_shard_workers_meet_no_global_429(
    upstream: FakeUpstream, tmp_path: Path, redis_url: str
) -> None:
    """Discord's 50 requests/s are the bot's, whichever process sends: the workers
    spend one global window through Redis, so the fake answers no global 429."""
    unlimited = {"QUOTA__USER_PER_MINUTE": "0", "QUOTA__CHANNEL_PER_MINUTE": "0"}
    unlimited |= {"QUOTA__USER_MAX_IN_FLIGHT": "0", "REDIS_URL": redis_url}
    async with FakeDiscord(SHARDED) as fake:
        envs = [shard_env(upstream, fake, tmp_path, s) | unlimited for s in (0, 1)]
        processes = await asyncio.gather(*(start_run(env) for env in envs))
        try:
            await fake.wait_for(lambda: fake.stats().counts.get("command_syncs", 0) >= 2, 60)
            await fake.wait_for(lambda: fake.stats().counts.get("identifies", 0) >= 2, 60)
            texts = [f"question {i}" for i in range(40)]
            await asyncio.gather(
                *(
                    fake.dispatch_message(
                        fake.channel(("zero-general", "one-general")[i % 2]).id,
                        content=text,
                        mentions_bot=True,
                    )
                    for i, text in enumerate(texts)
                )
            )
            answers = [await answer_to(fake, text) for text in texts]
        finally:
            stopped = [await stop(process) for process in processes]
    assert [code for code, _ in stopped] == [0, 0], stopped
    assert len({a.id for a in answers}) == 40
    assert fake.stats().rate_limited.get("global", 0) == 0
