"""The whole pipeline under load: loopback Discord → `threadline run` → fake upstream.

This process hosts the fake upstream and the loopback Discord; the real
``threadline run`` runs as a separate process against them. N conversations
start at once, spread over the channels, each three turns: a mention (which
opens a thread), then two follow-ups in that thread, each sent ``--think``
seconds after the previous answer ended (a person reads before replying; a
thread is a Discord channel with its own 5-per-5 s message bucket, so
back-to-back turns would measure the bucket, not threadline). Answers are 300
tokens at 50 tokens/s from the fake upstream.

    python -m bench.e2e [--platform discord] [--conversations 200] [--channels 100]

first_visible = from the platform event to the first words the user sees,
minus the upstream's own time to first token. final_lag = from the upstream's
last token to the final edit on the platform. CPU and peak RSS are the
threadline process's own (/proc). Prints figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.discord import FakeDiscord  # noqa: E402
from tests.fakes.discord.config import ChannelSpec, FakeConfig, GuildSpec  # noqa: E402
from tests.fakes.upstream import API_KEY, Answer, FakeUpstream  # noqa: E402

TURNS = 3
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class TimedDiscord(FakeDiscord):
    """The loopback Discord, also noting when each message text was shown."""

    def __init__(self, config: FakeConfig) -> None:
        super().__init__(config)
        self.shown: dict[str, list[tuple[float, str]]] = {}  # channel id -> (time, text)

    def app(self) -> web.Application:
        app = super().app()
        app.middlewares.insert(0, self._note)
        return app

    @web.middleware
    async def _note(self, request: web.Request, handler: Callable[[web.Request], Any]) -> Any:
        response = await handler(request)
        parts = request.path.split("/")
        if (
            request.method in ("POST", "PATCH")
            and "channels" in parts
            and "messages" in parts
            and request.content_type == "application/json"
            and response.status < 300
        ):
            with contextlib.suppress(ValueError):
                body = json.loads(await request.read() or b"{}")
                if isinstance(body, dict) and isinstance(body.get("content"), str):
                    channel = parts[parts.index("channels") + 1]
                    now = asyncio.get_running_loop().time()
                    self.shown.setdefault(channel, []).append((now, body["content"]))
        return response


@dataclass
class TurnFigures:
    first_visible_ms: float
    final_lag_ms: float


@dataclass
class Run:
    figures: list[TurnFigures] = field(default_factory=list)
    lost_turns: int = 0


def proc_figures(pid: int) -> tuple[float, float]:
    """CPU seconds and peak RSS (MiB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cpu, peak


async def conversation(
    n: int,
    discord: TimedDiscord,
    upstream: FakeUpstream,
    channel_id: int,
    tokens: int,
    think: float,
    run: Run,
) -> None:
    expected = ("tok " * tokens).strip()
    loop = asyncio.get_running_loop()
    thread_id: int | None = None
    for turn in range(1, TURNS + 1):
        prompt = f"conversation {n} turn {turn}"
        if turn > 1:
            await asyncio.sleep(think)  # a person reads the answer before replying
        started = loop.time()
        if thread_id is None:
            # A thread started from a message takes the message's id.
            thread_id = await discord.dispatch_message(
                channel_id, content=prompt, mentions_bot=True
            )
        else:
            await discord.dispatch_message(thread_id, content=prompt)
        key = str(thread_id)

        def finals(key: str = key) -> int:
            return sum(text.strip() == expected for _, text in discord.shown.get(key, []))

        try:
            await discord.wait_for(lambda turn=turn: finals() >= turn or None, 120)
        except TimeoutError:
            run.lost_turns += TURNS - turn + 1
            return
        timing = next(t for t in upstream.timings if t.prompt == prompt)
        shown = [(t, text) for t, text in discord.shown[key] if t >= started]
        first_words = next(t for t, text in shown if "tok" in text)
        final = next(t for t, text in shown if text.strip() == expected)
        assert timing.first_token is not None
        assert timing.last_token is not None
        upstream_ttft = timing.first_token - timing.requested
        run.figures.append(
            TurnFigures(
                first_visible_ms=(first_words - started - upstream_ttft) * 1000,
                final_lag_ms=(final - timing.last_token) * 1000,
            )
        )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def bench(
    conversations: int,
    channels: int,
    tokens: int,
    rate: float,
    think: float,
    profile: str | None = None,
) -> dict[str, Any]:
    config = FakeConfig(
        guilds=(GuildSpec(channels=tuple(ChannelSpec(f"c{i}") for i in range(channels))),),
    )
    answer = Answer(tokens=tokens, tokens_per_s=rate)
    async with FakeUpstream(answer=answer) as upstream, TimedDiscord(config) as discord:
        with tempfile.TemporaryDirectory() as scratch:
            env = {
                "PATH": os.environ.get("PATH", ""),
                "PYTHONPATH": str(ROOT),
                "OPENAI_API_KEY": API_KEY,
                "OPENAI_BASE_URL": upstream.base_url,
                "STORAGE__PATH": str(Path(scratch) / "threadline.db"),
                "DISCORD_TOKEN": discord.token,
                "DISCORD__API_BASE": discord.api_base,
                "DISCORD__GATEWAY_URL": discord.gateway_url,
                "LIMITS__MAX_CONCURRENT_REPLIES": str(max(32, conversations)),
                "LOGGING__LEVEL": "WARNING",
            }
            command = [sys.executable, "-m", "bot", "run"]
            if profile:  # pyinstrument writes its report when `run` exits on SIGTERM
                command = [sys.executable, "-m", "pyinstrument", "--show-all", "-o", profile]
                command += ["-m", "bot", "run"]
            process = await asyncio.create_subprocess_exec(
                *command, env=env, cwd=ROOT, stderr=asyncio.subprocess.DEVNULL
            )
            try:
                await discord.wait_for(lambda: discord.stats().counts.get("identifies"), 60)
                await asyncio.sleep(0.5)  # READY and GUILD_CREATE reach the bot
                ids = [discord.channel(f"c{i}").id for i in range(channels)]
                run = Run()
                await asyncio.gather(
                    *(
                        conversation(n, discord, upstream, ids[n % len(ids)], tokens, think, run)
                        for n in range(conversations)
                    )
                )
                cpu, peak = proc_figures(process.pid)
            finally:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 60)
            rate_limited = sum(discord.stats().rate_limited.values())
            for record in discord.requests:
                if record.status == 429:
                    print(f"429: {record.route} ({record.scope})", file=sys.stderr)
    first = [f.first_visible_ms for f in run.figures]
    lag = [f.final_lag_ms for f in run.figures]
    total_tokens = tokens * len(run.figures)
    return {
        "bench": "e2e",
        "platform": "discord",
        "conversations": conversations,
        "first_visible_p50_ms": round(statistics.median(first), 1) if first else None,
        "first_visible_p99_ms": round(percentile(first, 0.99), 1),
        "final_lag_p99_ms": round(percentile(lag, 0.99), 1),
        "rate_limited": rate_limited,
        "lost_turns": run.lost_turns,
        "cpu_s_per_1k_tokens": round(cpu / (total_tokens / 1000), 4) if total_tokens else None,
        "peak_rss_mb": round(peak, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--platform", choices=["discord"], default="discord")
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--think", type=float, default=5.0, help="seconds between turns")
    parser.add_argument("--profile", help="write a pyinstrument profile of threadline here")
    args = parser.parse_args()
    figures = asyncio.run(
        bench(args.conversations, args.channels, args.tokens, args.rate, args.think, args.profile)
    )
    print(
        f"{figures['conversations']} conversations x {TURNS} turns on {args.channels} channels, "
        f"{args.tokens} tokens at {args.rate:g}/s"
    )
    print(
        f"first visible (threadline's own): p50 {figures['first_visible_p50_ms']} ms, "
        f"p99 {figures['first_visible_p99_ms']} ms (target <= 50)"
    )
    print(f"final lag p99 {figures['final_lag_p99_ms']} ms")
    print(
        f"429s {figures['rate_limited']} (target 0), lost turns {figures['lost_turns']} (target 0)"
    )
    print(
        f"cpu {figures['cpu_s_per_1k_tokens']} s per 1k tokens (target <= 0.05), "
        f"peak RSS {figures['peak_rss_mb']} MiB (target <= 150)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
