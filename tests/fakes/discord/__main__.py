"""Run the fake by hand: `python -m tests.fakes.discord --port 8082`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json

from .config import ChannelSpec, FakeConfig, GuildSpec
from .server import FakeDiscord


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.discord", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--token", default=FakeConfig.token)
    parser.add_argument("--heartbeat-ms", type=int, default=FakeConfig.heartbeat_interval_ms)
    parser.add_argument("--ack-deadline", type=float, default=FakeConfig.interaction_ack_deadline)
    parser.add_argument(
        "--shards",
        type=int,
        default=FakeConfig.shards,
        help="recommended shards; with more than 1, one guild per shard (#general-N)",
    )
    parser.add_argument("--max-concurrency", type=int, default=FakeConfig.max_concurrency)
    return parser.parse_args()


def _banner(fake: FakeDiscord) -> str:
    channels = {c.name: c.id for c in fake.world.channels.values()}
    return "\n".join(
        [
            f"fake Discord on {fake.base_url}",
            f"  REST      {fake.api_base}",
            f"  gateway   {fake.gateway_url}",
            f"  control   {fake.base_url}/_fake/info  (see tests/fakes/discord/control.py)",
            f"  token     {fake.token}",
            f"  app id    {fake.application_id}",
            *(
                f"  guild     {g.id} (shard {(g.id >> 22) % fake.config.shards})"
                for g in fake.world.guilds.values()
            ),
            f"  channels  {json.dumps(channels)}",
            "point discord.py at it (before creating the client):",
            "  from tests.fakes.discord import point_discord_py_at",
            f"  point_discord_py_at({fake.base_url!r})",
        ]
    )


async def _main(args: argparse.Namespace) -> None:
    guilds = FakeConfig.guilds
    if args.shards > 1:
        guilds = tuple(
            GuildSpec(f"shard-{i}", (ChannelSpec(f"general-{i}"),), shard=i)
            for i in range(args.shards)
        )
    config = FakeConfig(
        token=args.token,
        heartbeat_interval_ms=args.heartbeat_ms,
        interaction_ack_deadline=args.ack_deadline,
        shards=args.shards,
        max_concurrency=args.max_concurrency,
        guilds=guilds,
    )
    fake = FakeDiscord(config)
    await fake.start(args.host, args.port)
    try:
        print(_banner(fake), flush=True)
        await asyncio.Event().wait()
    finally:
        await fake.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(_parse()))
