"""The whole pipeline under load: loopback platform → `threadline run` → fake upstream.

This process hosts the fake upstream and the loopback platform (Discord: gateway
+ REST; Slack: Socket Mode + Web API); the real ``threadline run`` runs as a
separate process against them. N conversations start at once, spread over the
channels, each three turns: a mention (which opens a thread), then two
follow-ups in that thread, each sent ``--think`` seconds after the previous
answer ended (a person reads before replying; a Discord thread is a channel with
its own 5-per-5 s message bucket, so back-to-back turns would measure the
bucket, not threadline). Answers are 300 tokens at 50 tokens/s from the fake
upstream.

    python -m bench.e2e [--platform discord|slack] [--conversations 200] [--channels 100]

``--burst`` is the load of issue 19: N people mention the bot at the same moment
in N channels, one answer each, ``--answer-chars`` long, one 4-character chunk
every ``--chunk-delay`` seconds (1,200 characters at 0.05 s: about 15 s):

    python -m bench.e2e --conversations 50 --burst --answer-chars 1200 --chunk-delay 0.05

The floor a platform's limits set is printed beside each figure (``floor_*``):
no bot can beat it under those limits. ``--threadline PATH`` runs the
threadline found at PATH (another checkout: the code before a change) against
the same fakes and the same bench.

first_seen = from the platform event to the first message the user sees
(a placeholder, "queued", or words). first_visible = from the platform event to the first words the user sees,
minus the upstream's own time to first token. final_lag = from the upstream's
last token to the moment the whole answer is shown. On Slack "shown" is the
message's text after chat.postMessage / chat.update or chat.startStream /
appendStream / stopStream. CPU and peak RSS are the threadline process's own
(/proc); CPU per 1k tokens counts from the first event on (start-up, about
0.5 s, is printed apart: it would otherwise dominate small runs). The threadline process runs with every QUOTA__* limit off, so the
bench measures the pipeline, not an operator's limits. Prints figures (with the
platform requests counted by route), then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.discord import FakeDiscord  # noqa: E402
from tests.fakes.discord.config import ChannelSpec, FakeConfig, GuildSpec  # noqa: E402
from tests.fakes.slack import RequestRecord, SlackFake  # noqa: E402
from tests.fakes.upstream import API_KEY, Answer, FakeUpstream  # noqa: E402

TURNS = 3
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The cost controls (issue: quotas); 0 turns each one off. A misspelled QUOTA__* name
# stops threadline's start-up (bot/setting_names.py; tests/test_settings.py reads these).
QUOTAS_OFF = {
    f"QUOTA__{name}": "0"
    for name in (
        "USER_PER_MINUTE",
        "CHANNEL_PER_MINUTE",
        "USER_DAILY_TOKENS",
        "WORKSPACE_DAILY_TOKENS",
        "MAX_IN_FLIGHT",
        "USER_MAX_IN_FLIGHT",
    )
}
SLACK_SHOWING = frozenset(
    {"chat.postMessage", "chat.update", "chat.startStream", "chat.appendStream", "chat.stopStream"}
)

Shown = dict[str, list[tuple[float, str]]]  # thread key -> (time, text shown)


class Platform(Protocol):
    """What the bench needs of a loopback platform."""

    shown: Shown

    def env(self) -> dict[str, str]: ...
    async def ready(self) -> None: ...
    async def say(self, channel: int, thread: str | None, text: str) -> str:
        """A person's message: a mention opening a thread, or a follow-up in ``thread``."""
        ...

    async def wait_for(self, predicate: Callable[[], Any], timeout: float) -> None: ...
    def rate_limited(self) -> list[str]:
        """One line per 429 answered."""
        ...

    def requests_by_route(self) -> str:
        """The platform requests threadline made, counted by route or method."""
        ...


class TimedDiscord(FakeDiscord):
    """The loopback Discord, also noting when each message text was shown."""

    def __init__(self, config: FakeConfig) -> None:
        super().__init__(config)
        self.shown: Shown = {}  # channel id -> (time, text)

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


class DiscordBench:
    def __init__(self, channels: int) -> None:
        config = FakeConfig(
            guilds=(GuildSpec(channels=tuple(ChannelSpec(f"c{i}") for i in range(channels))),),
        )
        self.fake = TimedDiscord(config)
        self.shown = self.fake.shown
        self._channels = channels

    def env(self) -> dict[str, str]:
        return {
            "DISCORD_TOKEN": self.fake.token,
            "DISCORD__API_BASE": self.fake.api_base,
            "DISCORD__GATEWAY_URL": self.fake.gateway_url,
        }

    async def ready(self) -> None:
        fake = self.fake
        await fake.wait_for(lambda: fake.stats().counts.get("identifies"), 60)
        await fake.wait_for(lambda: fake.stats().counts.get("command_syncs"), 60)
        # The floors assume the bot's 50/s window starts empty: start-up's own requests
        # (GET /users/@me, the command sync) leave it first. Started 0.5 s after them,
        # a burst found 3 of 50 taken, and the last 2 answers waited another second.
        loop = asyncio.get_running_loop()
        while (quiet := fake.requests[-1].at + 1.1 - loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(quiet)  # time passing is not an event of the fake's
        self._ids = [fake.channel(f"c{i}").id for i in range(self._channels)]

    async def say(self, channel: int, thread: str | None, text: str) -> str:
        if thread is None:
            # A thread started from a message takes the message's id.
            channel_id = self._ids[channel % len(self._ids)]
            return str(
                await self.fake.dispatch_message(channel_id, content=text, mentions_bot=True)
            )
        await self.fake.dispatch_message(int(thread), content=text)
        return thread

    async def wait_for(self, predicate: Callable[[], Any], timeout: float) -> None:
        await self.fake.wait_for(predicate, timeout)

    def rate_limited(self) -> list[str]:
        return [f"{r.route} ({r.scope})" for r in self.fake.requests if r.status == 429]

    def requests_by_route(self) -> str:
        counts = Counter(r.route for r in self.fake.requests)
        return ", ".join(f"{route} {n}" for route, n in counts.most_common())


class SlackBench:
    """The loopback Slack over Socket Mode, noting what each thread shows and when."""

    def __init__(self, channels: int) -> None:
        self.fake = SlackFake()
        self.shown: Shown = {}  # "channel:thread_ts" -> (time, text)
        self._channels = [f"C0BENCH{i:04d}" for i in range(channels)]
        for i, channel in enumerate(self._channels):
            self.fake.workspace.add_channel(channel, f"bench-{i}")
        self.fake.web_api.observers.append(self._note)

    def _note(self, record: RequestRecord, body: dict[str, Any]) -> None:
        if record.method not in SLACK_SHOWING or not record.ok:
            return
        channel = str(body.get("channel") or record.args.get("channel"))
        ts = str(body.get("ts") or record.args.get("ts"))
        message = self.fake.workspace.find_message(channel, ts)
        if message is None or message.thread_ts is None:
            return
        text = message.markdown if message.markdown is not None else message.text
        now = asyncio.get_running_loop().time()
        self.shown.setdefault(f"{channel}:{message.thread_ts}", []).append((now, text))

    def env(self) -> dict[str, str]:
        return {
            "SLACK_BOT_TOKEN": self.fake.bot_token,
            "SLACK_APP_TOKEN": self.fake.app_token,
            "SLACK__API_URL": self.fake.base_url,
        }

    async def ready(self) -> None:
        await self.fake.wait_for(lambda: self.fake.socket.connections, 60, "socket")
        await asyncio.sleep(0.5)  # Bolt's auth.test and the rest of its start-up

    async def say(self, channel: int, thread: str | None, text: str) -> str:
        payloads = self.fake.payloads
        if thread is None:
            event = payloads.app_mention(
                text, channel=self._channels[channel % len(self._channels)]
            )
            await self.fake.send_event(event)
            return f"{event['channel']}:{event['ts']}"
        channel_id, thread_ts = thread.split(":")
        await self.fake.send_event(payloads.message(text, channel=channel_id, thread_ts=thread_ts))
        return thread

    async def wait_for(self, predicate: Callable[[], Any], timeout: float) -> None:
        await self.fake.wait_for(predicate, timeout)

    def rate_limited(self) -> list[str]:
        return [f"{method} x{n}" for method, n in Counter(self.fake.rate_limited).items() if n]

    def requests_by_route(self) -> str:
        counts = Counter(r.method for r in self.fake.requests)
        return ", ".join(f"{method} {n}" for method, n in counts.most_common())


@dataclass
class TurnFigures:
    first_visible_ms: float
    final_lag_ms: float
    first_seen_ms: float


@dataclass
class Run:
    figures: list[TurnFigures] = field(default_factory=list)
    lost_turns: int = 0
    exact: int = 0  # answers whose last text shown is exactly the model's


def proc_figures(pid: int) -> tuple[float, float]:
    """CPU seconds and peak RSS (MiB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cpu, peak


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread of a process (the event loop, aiosqlite's thread …)."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            name = f"{(task / 'comm').read_text().strip()}/{task.name}"
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            out[name] = out.get(name, 0.0) + cpu
    return out


def asked(upstream: FakeUpstream, prompt: str) -> Any:
    """The upstream's timing of the request whose last user text ends with ``prompt``."""
    return next(
        t for t in upstream.timings if t.prompt == prompt or t.prompt.endswith(" " + prompt)
    )


async def conversation(
    n: int,
    platform: Platform,
    upstream: FakeUpstream,
    tokens: int,
    think: float,
    run: Run,
    turns: int = TURNS,
) -> None:
    expected = ("tok " * tokens).strip()
    loop = asyncio.get_running_loop()
    key: str | None = None
    for turn in range(1, turns + 1):
        prompt = f"conversation {n} turn {turn}"
        if turn > 1:
            await asyncio.sleep(think)  # a person reads the answer before replying
        started = loop.time()
        key = await platform.say(n, key, prompt)

        def finals(key: str = key) -> int:
            return sum(text.strip() == expected for _, text in platform.shown.get(key, []))

        try:
            await platform.wait_for(lambda turn=turn: finals() >= turn or None, 120)
        except TimeoutError:
            run.lost_turns += turns - turn + 1
            return
        timing = asked(upstream, prompt)
        shown = [(t, text) for t, text in platform.shown[key] if t >= started]
        first_words = next(t for t, text in shown if "tok" in text)
        final = next(t for t, text in shown if text.strip() == expected)
        run.exact += shown[-1][1].strip() == expected
        assert timing.first_token is not None
        assert timing.last_token is not None
        upstream_ttft = timing.first_token - timing.requested
        run.figures.append(
            TurnFigures(
                first_visible_ms=(first_words - started - upstream_ttft) * 1000,
                final_lag_ms=(final - timing.last_token) * 1000,
                first_seen_ms=(shown[0][0] - started) * 1000,
            )
        )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def bench(
    platform_name: str,
    conversations: int,
    channels: int,
    tokens: int,
    rate: float,
    think: float,
    profile: str | None = None,
    show_log: bool = False,
    settings: dict[str, str] | None = None,
    *,
    burst: bool = False,
    root: Path = ROOT,
) -> dict[str, Any]:
    """Run the load; ``burst``: one mention per conversation, all at once, default limits."""
    answer = Answer(tokens=tokens, tokens_per_s=rate)
    platform: DiscordBench | SlackBench = (
        DiscordBench(channels) if platform_name == "discord" else SlackBench(channels)
    )
    # Burst mode measures the default settings (the cap on concurrent replies included).
    cap = {} if burst else {"LIMITS__MAX_CONCURRENT_REPLIES": str(max(32, conversations))}
    async with FakeUpstream(answer=answer) as upstream, platform.fake:
        with tempfile.TemporaryDirectory() as scratch:
            env = {
                "PATH": os.environ.get("PATH", ""),
                "PYTHONPATH": str(root),
                "OPENAI_API_KEY": API_KEY,
                "OPENAI_BASE_URL": upstream.base_url,
                "STORAGE__PATH": str(Path(scratch) / "threadline.db"),
                **cap,
                "LOGGING__LEVEL": "WARNING",
                **QUOTAS_OFF,
                **platform.env(),
                **(settings or {}),
            }
            command = [sys.executable, "-m", "bot", "run"]
            if profile:  # pyinstrument writes its report when `run` exits on SIGTERM
                command = [sys.executable, "-m", "pyinstrument", "--show-all", "-o", profile]
                command += ["-m", "bot", "run"]
            process = await asyncio.create_subprocess_exec(
                *command,
                env=env,
                cwd=root,
                stderr=None if show_log else asyncio.subprocess.DEVNULL,
            )
            try:
                await platform.ready()
                start_cpu, _ = proc_figures(process.pid)
                run = Run()
                turns = 1 if burst else TURNS
                await asyncio.gather(
                    *(
                        conversation(n, platform, upstream, tokens, think, run, turns)
                        for n in range(conversations)
                    )
                )
                cpu, peak = proc_figures(process.pid)
                threads = thread_cpu(process.pid)
            finally:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 60)
            print(
                f"start-up cpu {start_cpu:.2f} s, total {cpu:.2f} s; "
                f"{len(platform.fake.requests)} platform requests",
                file=sys.stderr,
            )
            print(
                "cpu by thread: " + ", ".join(f"{k} {v:.1f} s" for k, v in threads.items()),
                file=sys.stderr,
            )
            print("requests by route: " + platform.requests_by_route(), file=sys.stderr)
            limited = platform.rate_limited()
            for line in limited:
                print(f"429: {line}", file=sys.stderr)
    first = [f.first_visible_ms for f in run.figures]
    lag = [f.final_lag_ms for f in run.figures]
    print("final lags (ms): " + " ".join(f"{v:.0f}" for v in sorted(lag)), file=sys.stderr)
    print("first visible (ms): " + " ".join(f"{v:.0f}" for v in sorted(first)), file=sys.stderr)
    seen = [f.first_seen_ms for f in run.figures]
    total_tokens = tokens * len(run.figures)
    return {
        "bench": "e2e",
        "platform": platform_name,
        "conversations": conversations,
        "burst": burst,
        "first_seen_p99_ms": round(percentile(seen, 0.99), 1),
        "first_visible_p50_ms": round(statistics.median(first), 1) if first else None,
        "first_visible_p99_ms": round(percentile(first, 0.99), 1),
        "floor_first_visible_ms": floor_first_visible_ms(platform_name, conversations),
        "final_lag_p50_ms": round(statistics.median(lag), 1) if lag else None,
        "final_lag_p99_ms": round(percentile(lag, 0.99), 1),
        "floor_final_lag_ms": floor_final_lag_ms(platform_name, conversations),
        "rate_limited": _count_429s(platform),
        "lost_turns": run.lost_turns,
        "exact": run.exact,
        "answers": conversations * (1 if burst else TURNS),
        "cpu_s": round(cpu - start_cpu, 2),
        "cpu_s_per_1k_tokens": (
            round((cpu - start_cpu) / (total_tokens / 1000), 4) if total_tokens else None
        ),
        "peak_rss_mb": round(peak, 1),
    }


def floor_first_visible_ms(platform: str, mentions: int) -> float:
    """The latest first words the platform's limits force on ``mentions`` at once.

    Discord: each mention needs a thread and a post from the bot's 50 requests/s
    (a window that starts empty: the first 50 go at once, the next 50 a second
    later …). Slack: the first post is chat.postMessage, 1/s per channel, and
    every mention has a channel of its own here: nothing to wait for.
    """
    if platform == "discord":
        return max(0.0, math.ceil(2 * mentions / 50) - 1) * 1000.0
    return 0.0


def floor_final_lag_ms(platform: str, answers: int) -> float:
    """The latest final text the limits force on ``answers`` that end together.

    Discord: one edit per answer, each in its own channel, 50/s: the finals of
    more than 50 answers take whole seconds. Slack: one chat.update (Tier 3,
    50 per minute per workspace) or one chat.stopStream per answer; with the
    budget kept for them, 50 finals go at once and more wait 1.2 s each.
    """
    if platform == "discord":
        return max(0.0, math.ceil(answers / 50) - 1) * 1000.0
    return max(0, answers - 50) * 60.0 / 50 * 1000.0


def _count_429s(platform: DiscordBench | SlackBench) -> int:
    if isinstance(platform, DiscordBench):
        return sum(platform.fake.stats().rate_limited.values())
    return sum(platform.fake.rate_limited.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--platform", choices=["discord", "slack"], default="discord")
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--channels", type=int, help="default: 100, or one per conversation")
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--burst", action="store_true", help="every mention at once, one turn")
    parser.add_argument("--answer-chars", type=int, help="answer length (sets --tokens)")
    parser.add_argument("--chunk-delay", type=float, help="seconds between chunks (sets --rate)")
    parser.add_argument("--think", type=float, default=5.0, help="seconds between turns")
    parser.add_argument("--threadline", type=Path, default=ROOT, help="the checkout to run")
    parser.add_argument("--profile", help="write a pyinstrument profile of threadline here")
    parser.add_argument("--show-log", action="store_true", help="pass threadline's stderr through")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for threadline's environment (UPSTREAM__..., STORAGE__...); repeatable",
    )
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.set)
    tokens = args.tokens if args.answer_chars is None else max(1, args.answer_chars // 4)
    rate = args.rate if args.chunk_delay is None else 1.0 / args.chunk_delay
    channels = args.channels or (args.conversations if args.burst else 100)
    figures = asyncio.run(
        bench(
            args.platform,
            args.conversations,
            channels,
            tokens,
            rate,
            args.think,
            args.profile,
            args.show_log,
            settings,
            burst=args.burst,
            root=args.threadline.resolve(),
        )
    )
    turns = 1 if args.burst else TURNS
    print(
        f"{args.platform}: {figures['conversations']} conversations x {turns} turns on "
        f"{channels} channels, {tokens} tokens at {rate:g}/s"
        + (" (burst, default settings)" if args.burst else "")
    )
    print(f"first seen (placeholder or words) p99 {figures['first_seen_p99_ms']} ms")
    print(
        f"first visible (threadline's own): p50 {figures['first_visible_p50_ms']} ms, "
        f"p99 {figures['first_visible_p99_ms']} ms "
        f"(floor {figures['floor_first_visible_ms']:g} ms)"
    )
    print(
        f"final lag p50 {figures['final_lag_p50_ms']} ms, p99 {figures['final_lag_p99_ms']} ms "
        f"(floor {figures['floor_final_lag_ms']:g} ms)"
    )
    print(
        f"429s {figures['rate_limited']} (target 0), lost turns {figures['lost_turns']} "
        f"(target 0), exact {figures['exact']}/{figures['answers']}"
    )
    print(
        f"cpu {figures['cpu_s']} s after start-up, {figures['cpu_s_per_1k_tokens']} s per 1k "
        f"tokens, peak RSS {figures['peak_rss_mb']} MiB"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
