"""Two real ``threadline run`` workers sharing one PostgreSQL and one Redis: SIGKILL one
mid-answer, and the other finishes its work (issue 18 point 6).

Slack's Socket Mode hands each event to one of the open connections (the fake does
round robin), so each worker answers its own share. The killed worker's streaming
answer is ended with the interrupted notice and its waiting question is answered by
the survivor, once; the survivor's own answers are never cut.
"""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

import asyncpg
import pytest

from bot import wording
from tests.fakes.slack import SlackFake
from tests.fakes.upstream import Answer, FakeUpstream
from tests.test_recovery import SLACK_CHANNEL, ended, slack_answer, slack_env
from tests.test_run import start_run

if TYPE_CHECKING:
    from pathlib import Path

    from tests.servers.postgres import Databases

LEASE = "1"  # seconds: the survivor takes over within about two of them


async def turns_of(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(
            await conn.fetch(
                "SELECT id, role, status, worker, platform_message_id, reply_to, text "
                "FROM turns ORDER BY id"
            )
        )
    finally:
        await conn.close()


async def until(check: object, url: str, what: str) -> list[asyncpg.Record]:
    """Poll the shared database until ``check(turns)`` holds."""
    async with asyncio.timeout(60):
        while True:
            turns = await turns_of(url)
            if check(turns):  # type: ignore[operator]
                return turns
            await asyncio.sleep(0.05)
    raise AssertionError(what)  # pragma: no cover


def pid_of(worker: str) -> int:
    """Worker ids are host-pid-uuid (bot/workers.py)."""
    return int(worker.split("-")[-2])


async def test_a_worker_killed_mid_answer_is_taken_over_by_the_other(
    request: pytest.FixtureRequest, upstream: FakeUpstream, tmp_path: Path
) -> None:
    pytest.importorskip("storage.redis", reason="needs the Redis coordination (REDIS_URL)")
    redis_url: str = request.getfixturevalue("redis_url")
    databases: Databases = request.getfixturevalue("postgres_databases")
    url = await databases.fresh()
    # Each answer takes ~3 s, one at a time per worker: a second question waits its turn.
    upstream.answer = Answer(tokens=60, tokens_per_s=20)
    async with SlackFake() as slack:
        env = slack_env(upstream, tmp_path, slack) | {
            "STORAGE__URL": url,
            "REDIS_URL": redis_url,
            "LIMITS__WORKER_LEASE_SECONDS": LEASE,
            "LIMITS__MAX_CONCURRENT_REPLIES": "1",
            # One person asks all four: shared through Redis, the default of 3 answers
            # in flight per person counts across both workers and would refuse the 4th.
            "QUOTA__USER_MAX_IN_FLIGHT": "0",
        }
        processes = [await start_run(env)]
        survivor = None
        try:
            await slack.wait_for(lambda: len(slack.socket.connections) == 1, 30, "socket 1")
            processes.append(await start_run(env))
            await slack.wait_for(lambda: len(slack.socket.connections) == 2, 30, "socket 2")
            mentions = [slack.payloads.app_mention(f"question {n}") for n in range(4)]
            for mention in mentions:
                await slack.send_event(mention)
            # Each worker streams one answer and holds one question waiting its turn.
            turns = await until(
                lambda ts: (
                    {t["worker"] for t in ts if t["status"] == "streaming"}.__len__() == 2
                    and sum(t["status"] == "pending" for t in ts) == 2
                ),
                url,
                "two answers streaming",
            )
            victim = next(t["worker"] for t in turns if t["status"] == "streaming")
            doomed = next(p for p in processes if p.pid == pid_of(victim))
            doomed.send_signal(signal.SIGKILL)
            await doomed.wait()
            survivor = next(p for p in processes if p is not doomed)
            upstream.answer = Answer()
            # Every question gets an answer: the cut one marked interrupted, the rest complete.
            turns = await until(
                lambda ts: (
                    sum(t["role"] == "assistant" for t in ts) == 4
                    and not any(t["status"] in ("streaming", "pending") for t in ts)
                ),
                url,
                "every question answered",
            )
            cut = [t for t in turns if t["status"] == "interrupted"]
            assert [t["worker"] for t in cut] == [victim]
            await slack.wait_for(
                lambda: slack_answer(
                    slack, lambda m: m.body.endswith(wording.interrupted_notice())
                ),
                30,
                "the cut answer ended in Slack",
            )
        finally:
            for process in processes:
                if process.returncode is None and process is not survivor:
                    process.kill()
                    await process.wait()
        assert survivor is not None
        survivor.send_signal(signal.SIGTERM)
        code, err = await ended(survivor)
    assert code == 0, err
    questions = [t for t in turns if t["role"] == "user"]
    answers = [t for t in turns if t["role"] == "assistant"]
    assert sorted(a["reply_to"] for a in answers) == sorted(q["id"] for q in questions)
    assert all(q["status"] == "complete" for q in questions)  # none lost, none twice
    shown = [
        reply
        for top in slack.messages(SLACK_CHANNEL)
        for reply in slack.messages(SLACK_CHANNEL, top.ts)
        if reply.bot_id is not None and reply.ts != top.ts and "this answer" not in reply.body
    ]  # the answers, without their Stop / Regenerate controls
    assert sorted(r.thread_ts for r in shown) == sorted(str(m["ts"]) for m in mentions)
    assert not any(r.stream_state == "streaming" for r in shown)
    assert sum(r.body.endswith(wording.interrupted_notice()) for r in shown) == 1
