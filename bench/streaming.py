"""Many replies streaming at once through one EditScheduler, on the real clock.

500 replies in 250 channels, 400 tokens each at 40 tokens/s, into a fake
platform that answers 429 past 5 requests per 5 s in a channel or 50 requests
per second in all (Discord's budgets). Prints figures and, last, one JSON line.

    python -m bench.streaming [--replies 500] [--channels 250] [--tokens 400] [--rate 40]

budget_used = requests sent while replies were streaming / the most the budget
allowed in that time, N * (1 + t / T) for N per T (the global 50/s binds here:
250 channels could take 250/s).
final_lag = from a reply's last token to its final edit landing on the platform.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.ports import SystemClock  # noqa: E402
from bot.render import render_discord  # noqa: E402
from bot.streaming import DISCORD_BUDGET, EditScheduler, StreamedReply  # noqa: E402
from tests.fakes.target import FakePlatform  # noqa: E402

# Tokens of about four characters, as in English text (OpenAI's rule of thumb):
# 400 tokens make about 1,600 characters, one Discord message.
WORDS = [" the", " str", "eam", " of", " tok", "ens", " arr", "ives", " and", " edit", "s", " one"]
TICK = 0.025  # the producer wakes every 25 ms and hands each reply the tokens now due


def rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(replies_n: int, channels: int, tokens: int, rate: float) -> dict[str, float]:
    clock = SystemClock()
    platform = FakePlatform(
        clock, channel_rate=DISCORD_BUDGET.channel, overall_rate=DISCORD_BUDGET.overall
    )
    rng = random.Random(7)
    scripts = [[rng.choice(WORDS) for _ in range(tokens)] for _ in range(replies_n)]
    gc.collect()
    rss_before = rss_kb()
    async with EditScheduler(DISCORD_BUDGET, clock) as scheduler:
        replies = [
            StreamedReply(platform.target(f"channel-{i % channels}"), scheduler, render_discord)
            for i in range(replies_n)
        ]
        starts = [i / replies_n for i in range(replies_n)]  # spread over the first second
        sent = [0] * replies_n
        last_token_at = [0.0] * replies_n
        finals: list[asyncio.Task[tuple[str, ...]]] = []
        finished_at: dict[int, float] = {}
        cpu_before = time.process_time()
        begin = time.monotonic()
        for reply in replies:
            await reply.start()
        requests_at_start = platform.requests
        while len(finals) < replies_n:
            now = time.monotonic() - begin
            for i, reply in enumerate(replies):
                if sent[i] >= tokens or now < starts[i]:
                    continue
                due = min(tokens, int((now - starts[i]) * rate) + 1)
                while sent[i] < due:
                    await reply.append(scripts[i][sent[i]])
                    sent[i] += 1
                if sent[i] == tokens:
                    last_token_at[i] = time.monotonic()
                    finals.append(asyncio.create_task(_finish(reply, i, finished_at)))
            await asyncio.sleep(TICK)
        streaming_seconds = max(last_token_at) - begin
        requests_while_streaming = platform.requests - requests_at_start
        ids = await asyncio.gather(*finals)
        cpu = time.process_time() - cpu_before
    rss_after = rss_kb()
    lost = sum(
        "".join(platform.messages[m].text for m in message_ids) != "".join(scripts[i])
        for i, message_ids in enumerate(ids)
    )
    overall = DISCORD_BUDGET.overall
    assert overall is not None
    # A sliding window of N per T allows at most N * (1 + t / T) requests in t seconds.
    allowed = overall.count * (1 + streaming_seconds / overall.per_seconds)
    lags = [(finished_at[i] - last_token_at[i]) * 1000 for i in range(replies_n)]
    return {
        "replies": replies_n,
        "rate_limited": platform.rate_limited,
        "budget_used": round(requests_while_streaming / allowed, 3),
        "final_lag_p50_ms": round(statistics.median(lags), 1),
        "final_lag_p99_ms": round(percentile(lags, 0.99), 1),
        "cpu_us_per_token": round(cpu / (replies_n * tokens) * 1e6, 2),
        "rss_kb_per_reply": round(max(0, rss_after - rss_before) / replies_n, 1),
        "streaming_seconds": round(streaming_seconds, 2),
        "requests": platform.requests,
        "lost_replies": lost,
    }


async def _finish(
    reply: StreamedReply, index: int, finished_at: dict[int, float]
) -> tuple[str, ...]:
    ids = await reply.finish()
    finished_at[index] = time.monotonic()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replies", type=int, default=500)
    parser.add_argument("--channels", type=int, default=250)
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--rate", type=float, default=40.0)
    args = parser.parse_args()
    figures = asyncio.run(run(args.replies, args.channels, args.tokens, args.rate))
    print(
        f"replies {figures['replies']} in {args.channels} channels, {args.tokens} tokens at {args.rate:g}/s"
    )
    print(
        f"streaming took {figures['streaming_seconds']} s; platform requests {figures['requests']}"
    )
    print(f"429s: {figures['rate_limited']}   lost replies: {figures['lost_replies']}")
    print(f"budget used: {figures['budget_used']:.1%} of 50 requests/s (target >= 90%)")
    print(f"final lag p50 {figures['final_lag_p50_ms']} ms, p99 {figures['final_lag_p99_ms']} ms")
    print(f"cpu {figures['cpu_us_per_token']} us/token (target <= 20)")
    print(f"memory {figures['rss_kb_per_reply']} KiB/reply (target <= 50)")
    keys = (
        "replies",
        "rate_limited",
        "budget_used",
        "final_lag_p99_ms",
        "cpu_us_per_token",
        "rss_kb_per_reply",
    )
    print(json.dumps({"bench": "streaming", **{k: figures[k] for k in keys}}))


if __name__ == "__main__":
    main()
