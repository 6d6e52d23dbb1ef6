"""How fast does SQLite store a turn and load a long thread's context?

Fills one fresh database file (in a temporary directory) with TURNS turns spread
over many threads, one of them BIG_THREAD turns long, timing every ``add_turn``
call (each its own commit; assistant turns are stored streaming, answering
their question, as the reply service does). Then times ``build_step`` on the
long thread: warm (the store's window cache in use), after each of a few new
turns (the cache extended), and cold (a freshly opened store). Prints the
figures and, last, one JSON line.

    python -m bench.history [--turns 100000] [--big-thread 10000] [--builds 200]
    python bench/history.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.domain import HistoryWindow, Role, ThreadKey, Turn, TurnStatus, Usage  # noqa: E402
from bot.ports import ConversationStore  # noqa: E402
from storage import SqliteStore  # noqa: E402

TOKEN_BUDGET = 100_000
MAX_TURNS = 100_000
WORDS = (
    *("the", "a", "of", "to", "and", "in", "that", "is", "for", "it", "with", "as", "on"),
    *("be", "this", "was", "are", "by", "at", "or", "from", "model", "thread", "answer"),
    *("question", "python", "error", "deploy", "channel", "message", "token", "image"),
    *("database", "request", "latency", "budget", "please", "thanks", "could", "would"),
)


@dataclass
class Figures:
    """What one run measured, in milliseconds unless named otherwise."""

    threads: int
    fill_seconds: float
    inserts: list[float]
    warm: list[float]
    rhythm: list[float]
    cold: float
    kept: int
    omitted: int


async def build_step(store: ConversationStore, key: ThreadKey) -> HistoryWindow:
    """What one reply does before calling the model: load the thread's context."""
    return await store.history(key, token_budget=TOKEN_BUDGET, max_turns=MAX_TURNS)


def sentence(rng: random.Random) -> str:
    """A chat message of 20-400 characters."""
    length = rng.randint(20, 400)
    words: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:length]


def schedule(rng: random.Random, turns: int, big_thread: int) -> list[int]:
    """Which thread each turn goes to: thread 0 gets ``big_thread`` turns."""
    others = max(1, (turns - big_thread) // 30)  # ~30 turns per ordinary thread
    plan = [0] * big_thread + [rng.randint(1, others) for _ in range(turns - big_thread)]
    rng.shuffle(plan)
    return plan


def key_of(thread: int) -> ThreadKey:
    return ThreadKey("discord", "guild-1", f"chan-{thread % 50}", f"thread-{thread}")


async def fill(store: SqliteStore, plan: list[int], rng: random.Random) -> list[float]:
    """Store every turn; return each ``add_turn`` call's duration in ms."""
    last_question: dict[int, int | None] = {}
    durations: list[float] = []
    for number, thread in enumerate(plan):
        text = sentence(rng)
        question = last_question.get(thread)
        if question is None:  # a user asks
            turn = Turn(
                role=Role.USER,
                text=text,
                author_id=f"user-{rng.randint(1, 500)}",
                author_name="someone",
                platform_message_id=f"m-{number}",
                tokens=len(text) // 4,
            )
        else:  # the answer, stored as it starts streaming
            turn = Turn(
                role=Role.ASSISTANT,
                text=text,
                requester_id="user-1",
                reply_to=question,
                status=TurnStatus.STREAMING,
                model="gpt-4o",
                usage=Usage(len(text), len(text) // 4),
                tokens=len(text) // 4,
            )
        started = time.perf_counter()
        stored = await store.add_turn(key_of(thread), turn)
        durations.append((time.perf_counter() - started) * 1000)
        assert stored is not None
        last_question[thread] = stored.id if question is None else None
    return durations


async def time_builds(store: ConversationStore, key: ThreadKey, count: int) -> list[float]:
    durations: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        await build_step(store, key)
        durations.append((time.perf_counter() - started) * 1000)
    return durations


async def time_builds_after_new_turns(
    store: SqliteStore, key: ThreadKey, count: int
) -> list[float]:
    """The reply service's rhythm: a new question arrives, then the context is built."""
    durations: list[float] = []
    for number in range(count):
        await store.add_turn(
            key, Turn(role=Role.USER, text=f"one more question {number}", tokens=5)
        )
        started = time.perf_counter()
        await build_step(store, key)
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def percentiles(durations: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(durations, n=100, method="inclusive")
    return statistics.median(durations), cuts[89], cuts[98]


def show(label: str, durations: list[float]) -> None:
    p50, p90, p99 = percentiles(durations)
    print(
        f"{label:<34} n={len(durations):>7}  p50 {p50:7.3f} ms  p90 {p90:7.3f} ms  "
        f"p99 {p99:7.3f} ms  max {max(durations):8.3f} ms"
    )


async def run(path: Path, turns: int, big_thread: int, builds: int) -> Figures:
    rng = random.Random(20_240_601)
    plan = schedule(rng, turns, big_thread)
    big = key_of(0)
    async with await SqliteStore.open(path) as store:
        fill_started = time.perf_counter()
        inserts = await fill(store, plan, rng)
        fill_seconds = time.perf_counter() - fill_started
        window = await build_step(store, big)
        warm = await time_builds(store, big, builds)
        rhythm = await time_builds_after_new_turns(store, big, 50)
    async with await SqliteStore.open(path) as reopened:
        cold_started = time.perf_counter()
        await build_step(reopened, big)
        cold = (time.perf_counter() - cold_started) * 1000
    return Figures(
        len(set(plan)), fill_seconds, inserts, warm, rhythm, cold, len(window.turns), window.omitted
    )


def report(figures: Figures, turns: int, big_thread: int, size: int) -> dict[str, object]:
    """Print the readable figures; return the JSON summary."""
    print(
        f"turns stored: {turns:,} over {figures.threads:,} threads in {figures.fill_seconds:.1f} s"
    )
    print(
        f"long thread: {big_thread:,} turns; history kept {figures.kept:,} and omitted "
        f"{figures.omitted:,} (budget {TOKEN_BUDGET:,} tokens)"
    )
    print(f"database file (with WAL): {size / 1_048_576:.1f} MiB")
    show("add_turn", figures.inserts)
    show("build_step (warm cache)", figures.warm)
    show("build_step (after a new turn)", figures.rhythm)
    print(f"{'build_step (cold: reopened store)':<34} {figures.cold:.3f} ms")
    return {
        "bench": "history",
        "insert_turn_p50_ms": round(statistics.median(figures.inserts), 4),
        "build_messages_p50_ms": round(statistics.median(figures.warm), 4),
        "turns": turns,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100_000)
    parser.add_argument("--big-thread", type=int, default=10_000)
    parser.add_argument("--builds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as tmp:
        path = Path(tmp) / "history.db"
        figures = asyncio.run(run(path, args.turns, args.big_thread, args.builds))
        size = sum(file.stat().st_size for file in Path(tmp).iterdir())
    print(json.dumps(report(figures, args.turns, args.big_thread, size)))


if __name__ == "__main__":
    main()
