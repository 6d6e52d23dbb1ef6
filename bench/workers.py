"""Several workers, one deployment: real PostgreSQL and Redis, sharded Discord, Slack HTTP.

This process starts a real PostgreSQL (tests/servers/postgres.py) and a real
redis-server (tests/servers/redis.py), the fake upstream, the loopback Discord
with one shard per worker, and the loopback Slack in HTTP mode; then N
``threadline run`` processes, worker i running Discord shard i of N and Slack's
HTTP endpoint on a port of its own, all on the same ``STORAGE__URL`` and
``REDIS_URL``. It drives conversations across them:

- Discord: a mention in a guild of every shard, then a follow-up in its thread;
- Slack: a mention POSTed to worker k *and* its retry (same ``event_id``,
  ``X-Slack-Retry-Num: 1``) POSTed to worker k+1 at once, as Slack does when the
  first was slow to acknowledge; the follow-up goes to yet another worker, and
  must carry the thread's history (this process is the load balancer).

Each worker answers at most ``--capacity`` questions at a time
(``LIMITS__MAX_CONCURRENT_REPLIES``; the rest are shown as queued): that is a
worker's capacity here, so answers/s measures how the deployment scales, not
the machine's two cores. The platform budgets are kept out of the way: every
conversation has a channel of its own (Discord's 5 per 5 s per channel, Slack's
1 post/s per channel) and answers are short (one post, a few edits), so the
shared global budgets (Discord's 50/s, Slack's per-workspace tiers) run at a
fraction of their limit.

``--compare`` runs one worker first, then N, and prints the ratio.
``--kill-one`` SIGKILLs worker 0 while it streams answers, lets the others take
them over (its lease in Redis expires), and restarts it as a supervisor would
(Discord needs its shard back).

    python -m bench.workers --workers 4 --conversations 32 --compare
    python -m bench.workers --workers 4 --conversations 16 --kill-one

Prints figures, then one JSON line: ``{"bench": "workers", "workers": …,
"conversations": …, "rate_limited": …, "duplicate_answers": …, "lost_turns": …,
"first_visible_p99_ms": …, "answers_per_s": …}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.e2e import QUOTAS_OFF, SlackBench, TimedDiscord, percentile  # noqa: E402
from bot import wording  # noqa: E402
from tests.fakes.discord.config import ChannelSpec, FakeConfig, GuildSpec  # noqa: E402
from tests.fakes.slack.events import encode_http_body, sign  # noqa: E402
from tests.fakes.upstream import API_KEY, Answer, FakeUpstream  # noqa: E402
from tests.servers.ports import free_port, listening  # noqa: E402
from tests.servers.postgres import postgres_server  # noqa: E402
from tests.servers.redis import redis_server  # noqa: E402

TURNS = 2
INTERRUPTED = wording.interrupted_notice()
# Seconds between an answer and the follow-up (a person reads it first). A Discord thread
# is a channel with its own 5-per-5 s bucket: back-to-back turns would measure that bucket.
THINK_SECONDS = 5.0
WORKER_LEASE_SECONDS = 2.0  # a killed worker's answers are taken over after this


@dataclass
class Figures:
    first_visible_ms: list[float] = field(default_factory=list)
    lost_turns: int = 0
    history_lost: int = 0  # follow-ups whose request lacked the thread's earlier turns
    interrupted: int = 0  # answers a killed worker cut, ended with the interrupted notice
    finished_at: list[float] = field(default_factory=list)


class Deployment:
    """The fakes and the N worker processes; this process is Slack's load balancer."""

    def __init__(self, workers: int, conversations: int, capacity: int) -> None:
        self.workers = workers
        self.capacity = capacity
        per_shard = max(1, -(-conversations // workers))
        guilds = tuple(
            GuildSpec(
                f"g{shard}",
                tuple(ChannelSpec(f"g{shard}c{n}") for n in range(per_shard)),
                shard=shard,
            )
            for shard in range(workers)
        )
        self.discord = TimedDiscord(
            FakeConfig(shards=workers, max_concurrency=workers, guilds=guilds)
        )
        self.slack = SlackBench(conversations)
        self.ports = [free_port() for _ in range(workers)]
        self.processes: list[asyncio.subprocess.Process | None] = [None] * workers
        self._env: dict[str, str] = {}

    def env(self, worker: int) -> dict[str, str]:
        return {
            **self._env,
            "DISCORD__SHARD_COUNT": str(self.workers),
            "DISCORD__SHARD_IDS": f"[{worker}]",
            "SLACK__HTTP_PORT": str(self.ports[worker]),
        }

    async def start(self, upstream: FakeUpstream, storage_url: str, redis_url: str) -> None:
        slack = self.slack.fake
        self._env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "OPENAI_API_KEY": API_KEY,
            "OPENAI_BASE_URL": upstream.base_url,
            "STORAGE__URL": storage_url,
            "REDIS_URL": redis_url,
            "DISCORD_TOKEN": self.discord.token,
            "DISCORD__API_BASE": self.discord.api_base,
            "DISCORD__GATEWAY_URL": self.discord.gateway_url,
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
            "SLACK__API_URL": slack.base_url,
            "SLACK__HTTP_HOST": "127.0.0.1",
            "LIMITS__MAX_CONCURRENT_REPLIES": str(self.capacity),
            "LIMITS__WORKER_LEASE_SECONDS": str(WORKER_LEASE_SECONDS),
            "LOGGING__LEVEL": "WARNING",
            "OPS__PORT": "0",
            **QUOTAS_OFF,
        }
        for worker in range(self.workers):
            await self.spawn(worker)
        await self.ready()

    async def spawn(self, worker: int) -> None:
        self.processes[worker] = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=self.env(worker), cwd=ROOT,
            stderr=None if os.environ.get("BENCH_SHOW_LOG") else asyncio.subprocess.DEVNULL,
        )  # fmt: skip

    async def ready(self) -> None:
        fake = self.discord
        identified = lambda: fake.stats().counts.get("identifies", 0) >= self.workers or None  # noqa: E731
        await fake.wait_for(identified, 120)
        for port in self.ports:
            await listening(port)
        await asyncio.sleep(0.5)  # READY and GUILD_CREATE reach every shard

    def alive(self) -> list[int]:
        return [i for i, p in enumerate(self.processes) if p is not None and p.returncode is None]

    def kill(self, worker: int) -> None:
        process = self.processes[worker]
        assert process is not None
        process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        for process in self.processes:
            if process is not None and process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            if process is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), 60)

    async def slack_post(self, worker: int, delivery: dict[str, Any], retry: int = 0) -> None:
        """POST one signed Events API delivery to a worker, as Slack does."""
        body, content_type = encode_http_body("events_api", delivery)
        headers = {"Content-Type": content_type, **sign(body, self.slack.fake.signing_secret)}
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        url = f"http://127.0.0.1:{self.ports[worker]}/slack/events"
        with contextlib.suppress(aiohttp.ClientError):
            async with (
                aiohttp.ClientSession() as session,
                session.post(url, data=body, headers=headers) as response,
            ):
                await response.read()


async def discord_conversation(
    n: int, deployment: Deployment, upstream: FakeUpstream, expected: str, figures: Figures
) -> None:
    fake = deployment.discord
    channel = fake.channel(f"g{n % deployment.workers}c{n // deployment.workers}").id
    key: str | None = None
    for turn in range(1, TURNS + 1):
        prompt = f"discord {n} turn {turn}"
        if turn > 1:
            await asyncio.sleep(THINK_SECONDS)
        started = asyncio.get_running_loop().time()
        if key is None:
            key = str(await fake.dispatch_message(channel, content=prompt, mentions_bot=True))
        else:
            await fake.dispatch_message(int(key), content=prompt)
        if not await _answered(fake.shown, key, expected, turn, figures, upstream, prompt, started):
            print(f"lost: {prompt} in thread {key}", file=sys.stderr)
            figures.lost_turns += TURNS - turn + 1
            return


async def slack_conversation(
    n: int, deployment: Deployment, upstream: FakeUpstream, expected: str, figures: Figures
) -> None:
    bench, fake = deployment.slack, deployment.slack.fake
    channel = f"C0BENCH{n:04d}"
    thread: str | None = None
    for turn in range(1, TURNS + 1):
        prompt = f"slack {n} turn {turn}"
        if turn > 1:
            await asyncio.sleep(THINK_SECONDS)
        started = asyncio.get_running_loop().time()
        if thread is None:
            event = fake.payloads.app_mention(prompt, channel=channel)
            thread = str(event["ts"])
        else:
            event = fake.payloads.message(prompt, channel=channel, thread_ts=thread)
        fake.workspace.record_user_event(event)
        delivery = fake.payloads.event_callback(event)
        alive = deployment.alive()
        first = alive[(n + turn) % len(alive)]
        second = alive[(n + turn + 1) % len(alive)]
        await asyncio.gather(
            deployment.slack_post(first, delivery),
            deployment.slack_post(second, delivery, retry=1),
        )
        key = f"{channel}:{thread}"
        if not await _answered(
            bench.shown, key, expected, turn, figures, upstream, prompt, started
        ):
            print(f"lost: {prompt} in thread {key}", file=sys.stderr)
            figures.lost_turns += TURNS - turn + 1
            return


async def _answered(
    shown: dict[str, list[tuple[float, str]]],
    key: str,
    expected: str,
    turn: int,
    figures: Figures,
    upstream: FakeUpstream,
    prompt: str,
    started: float,
) -> bool:
    """Wait for this turn's exact answer in the thread; note its figures.

    Every answer is the same text, so the one shown after the upstream began answering
    ``prompt`` is this turn's (the turn before had finished when it was asked)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120

    def final() -> str | None:
        timing = next((t for t in upstream.timings if t.prompt.endswith(prompt)), None)
        if timing is None or timing.first_token is None:
            return None
        for at, text in shown.get(key, []):
            if at >= timing.first_token and text.strip() == expected:
                return "answered"
            if at >= timing.first_token and text.endswith(INTERRUPTED):
                return "interrupted"
        return None

    while (ended := final()) is None:
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    if ended == "interrupted":  # a clear sentence in the thread: the person asks again
        figures.interrupted += 1
        return True
    timing = next(t for t in upstream.timings if t.prompt.endswith(prompt))
    words = [t for t, text in shown[key] if t >= started and "tok" in text]
    assert timing.first_token is not None
    figures.first_visible_ms.append(
        (words[0] - started - (timing.first_token - timing.requested)) * 1000
    )
    figures.finished_at.append(loop.time())
    request = next(
        r for r in reversed(upstream.requests) if str(r["messages"][-1]["content"]).endswith(prompt)
    )
    said = [m for m in request["messages"] if m["role"] in ("user", "assistant")]
    if len(said) < 2 * turn - 1 and not figures.interrupted:  # every earlier turn, then this
        figures.history_lost += 1
    return True


def duplicate_answers(upstream: FakeUpstream) -> int:
    """Questions the upstream was asked more than once (each is one answer too many)."""
    asked = Counter(t.prompt for t in upstream.timings)
    return sum(n - 1 for n in asked.values())


async def run(
    workers: int,
    conversations: int,
    capacity: int,
    tokens: int,
    rate: float,
    kill: bool,
    platform: str = "both",
) -> dict[str, Any]:
    expected = ("tok " * tokens).strip()
    figures = Figures()
    deployment = Deployment(workers, conversations, capacity)
    with postgres_server() as storage_url, redis_server() as redis_url:
        async with (
            FakeUpstream(answer=Answer(tokens=tokens, tokens_per_s=rate)) as upstream,
            deployment.discord,
            deployment.slack.fake,
        ):
            await deployment.start(upstream, storage_url, redis_url)
            try:
                loop = asyncio.get_running_loop()
                began = loop.time()
                kinds = {"discord": [discord_conversation], "slack": [slack_conversation]}
                mix = kinds.get(platform, [discord_conversation, slack_conversation])
                talks = [
                    mix[n % len(mix)](n, deployment, upstream, expected, figures)
                    for n in range(conversations)
                ]
                work = asyncio.gather(*talks)
                if kill:
                    await _kill_and_restart(deployment, upstream)
                await work
                elapsed = max(figures.finished_at, default=began) - began
            finally:
                await deployment.stop()
            limited = sum(deployment.discord.stats().rate_limited.values())
            limited += sum(deployment.slack.fake.rate_limited.values())
            duplicates = duplicate_answers(upstream)
    answers = len(figures.finished_at)
    return {
        "bench": "workers",
        "workers": workers,
        "conversations": conversations,
        "rate_limited": limited,
        "duplicate_answers": duplicates,
        "lost_turns": figures.lost_turns,
        "history_lost": figures.history_lost,
        "interrupted": figures.interrupted,
        "first_visible_p99_ms": round(percentile(figures.first_visible_ms, 0.99), 1),
        "answers": answers,
        "answers_per_s": round(answers / elapsed, 2) if elapsed > 0 else None,
        "killed_one": kill,
        "platform": platform,
    }


async def _kill_and_restart(deployment: Deployment, upstream: FakeUpstream) -> None:
    """SIGKILL worker 0 once answers stream; restart it when its lease has expired."""
    await deployment.discord.wait_for(lambda: len(upstream.timings) >= deployment.workers * 2, 60)
    deployment.kill(0)
    print("worker 0 killed mid-answer", file=sys.stderr)
    await asyncio.sleep(WORKER_LEASE_SECONDS * 2)
    await deployment.spawn(0)
    await listening(deployment.ports[0])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--conversations", type=int, default=32)
    parser.add_argument("--capacity", type=int, default=2, help="answers at a time per worker")
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--rate", type=float, default=40.0, help="tokens per second upstream")
    parser.add_argument("--platform", choices=("both", "discord", "slack"), default="both")
    parser.add_argument("--compare", action="store_true", help="one worker first, then N")
    parser.add_argument("--kill-one", action="store_true", help="SIGKILL worker 0 mid-answer")
    args = parser.parse_args()
    one = None
    if args.compare:
        one = asyncio.run(
            run(1, args.conversations, args.capacity, args.tokens, args.rate, False, args.platform)
        )
        print(f"1 worker: {one['answers_per_s']} answers/s", file=sys.stderr)
    figures = asyncio.run(
        run(
            args.workers,
            args.conversations,
            args.capacity,
            args.tokens,
            args.rate,
            args.kill_one,
            args.platform,
        )
    )
    if one is not None:
        figures["answers_per_s_one_worker"] = one["answers_per_s"]
        figures["scaling"] = round(figures["answers_per_s"] / one["answers_per_s"], 2)
    print(
        f"{figures['workers']} workers, {figures['conversations']} conversations x {TURNS} turns "
        f"({args.platform}), capacity {args.capacity} answers per worker"
    )
    print(
        f"answers/s {figures['answers_per_s']}"
        + (f" (1 worker: {one['answers_per_s']}, x{figures['scaling']})" if one else "")
    )
    print(f"first visible p99 {figures['first_visible_p99_ms']} ms")
    print(
        f"429s {figures['rate_limited']}, duplicate answers {figures['duplicate_answers']}, "
        f"lost turns {figures['lost_turns']}, follow-ups without history {figures['history_lost']}, "
        f"interrupted by the kill {figures['interrupted']}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
