"""How much does threadline's client cost over a bare SSE loop?

Streams CHUNKS chunks over loopback from the fake upstream (its own process, so
the server's work does not share this process's event loop) twice per round:
through ``UpstreamClient.stream`` and through a bare httpx-sse loop that only
``json.loads`` each chunk. Prints the figures and, last, one JSON line.

    python -m bench.upstream_stream [--chunks 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from httpx_sse import aconnect_sse
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.settings import UpstreamSettings  # noqa: E402
from bot.upstream import ChatRequest, UpstreamClient  # noqa: E402
from tests.fakes.upstream import API_KEY  # noqa: E402

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "go"}], "stream": True}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_fake(port: int, chunks: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.fakes.upstream", "--port", str(port)]
    command += ["--tokens", str(chunks)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    process.stdout.readline()  # OPENAI_BASE_URL=... means it is listening
    return process


async def through_client(base_url: str) -> int:
    settings = UpstreamSettings(base_url=base_url, api_key=SecretStr(API_KEY))
    request = ChatRequest(model="gpt-4o", messages=({"role": "user", "content": "go"},))
    count = 0
    async with UpstreamClient(settings) as client:
        async for delta in client.stream(request):
            count += delta.content.count("tok")  # the client joins what one read brings
    return count


async def through_bare_loop(base_url: str) -> int:
    count = 0
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=60) as http,
        aconnect_sse(http, "POST", f"{base_url}/chat/completions", json=BODY) as source,
    ):
        async for event in source.aiter_sse():
            if event.data == "[DONE]":
                break
            chunk = json.loads(event.data)
            if chunk["choices"][0]["delta"].get("content"):
                count += 1
    return count


async def timed(run: Callable[[str], Awaitable[int]], base_url: str) -> tuple[float, int]:
    started = time.perf_counter()
    count = await run(base_url)
    return time.perf_counter() - started, count


async def measure(base_url: str, rounds: int, chunks: int) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {"client": [], "baseline": []}
    for _ in range(rounds):
        for name, run in (("baseline", through_bare_loop), ("client", through_client)):
            seconds, count = await timed(run, base_url)
            if count != chunks:
                raise SystemExit(f"{name} saw {count} chunks, expected {chunks}")
            rates[name].append(count / seconds)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    fake = start_fake(port, args.chunks)
    try:
        rates = asyncio.run(measure(f"http://127.0.0.1:{port}/openai", args.rounds, args.chunks))
    finally:
        fake.terminate()
        fake.wait()
    client = statistics.median(rates["client"])
    baseline = statistics.median(rates["baseline"])
    print(
        f"chunks per run:        {args.chunks:,} (median of {args.rounds} rounds, cpus={os.cpu_count()})"
    )
    print(
        f"threadline client:     {client:,.0f} chunks/s  {[f'{r:,.0f}' for r in rates['client']]}"
    )
    print(
        f"bare httpx-sse + json: {baseline:,.0f} chunks/s  {[f'{r:,.0f}' for r in rates['baseline']]}"
    )
    print(f"overhead ratio:        {baseline / client:.3f} (target <= 1.3)")
    figures = {
        "bench": "upstream_stream",
        "chunks_per_s": round(client),
        "baseline_chunks_per_s": round(baseline),
        "overhead_ratio": round(baseline / client, 3),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
