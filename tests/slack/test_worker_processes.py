"""Two ``threadline run --platform slack`` processes in HTTP mode answer one app.

As behind a load balancer: Slack POSTs an event to worker 1 and, not having seen
the acknowledgement in time, its retry (same ``event_id``, ``X-Slack-Retry-Num: 1``)
to worker 2. The workers share one SQLite file and a real redis-server
(``REDIS_URL``); the question is answered once, a follow-up that reaches worker 2
is answered with the thread's history, and a slash command sent to both is asked once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.slack import SlackFake
from tests.fakes.upstream import FakeUpstream
from tests.servers.ports import free_port, listening
from tests.slack.conftest import GENERAL, bot_messages, shown
from tests.slack.test_workers import post
from tests.test_run import ROOT, base_env, stop

START_SECONDS = 30.0


@contextlib.asynccontextmanager
async def worker(env: dict[str, str], port: int) -> AsyncIterator[str]:
    """One ``threadline run --platform slack`` on ``port``; yields its events URL."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", "run", "--platform", "slack"),
        env=env | {"SLACK__HTTP_PORT": str(port)},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await listening(port)
        yield f"http://127.0.0.1:{port}/slack/events"
    finally:
        code, err = await stop(process)
        assert code == 0, err


@pytest.fixture
async def slack_http() -> AsyncIterator[SlackFake]:
    async with SlackFake() as fake:
        yield fake


async def test_two_worker_processes_answer_a_retry_once_and_share_the_thread(
    upstream: FakeUpstream, slack_http: SlackFake, redis_url: str, tmp_path: Path
) -> None:
    fake = slack_http
    env = base_env(upstream, tmp_path) | {
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_SIGNING_SECRET": fake.signing_secret,
        "SLACK__API_URL": fake.base_url,
        "SLACK__HTTP_HOST": "127.0.0.1",
        "REDIS_URL": redis_url,
    }
    async with (
        worker(env, free_port()) as one,
        worker(env, free_port()) as two,
    ):
        mention = fake.payloads.app_mention("say it once")
        delivery = fake.payloads.event_callback(mention)
        await asyncio.gather(
            post(fake, one, "events_api", delivery),
            post(fake, two, "events_api", delivery, retry=1),
        )
        await fake.wait_for(
            lambda: "You said: say it once" in shown(fake, GENERAL, mention["ts"]),
            START_SECONDS,
            "the answer",
        )
        follow_up = fake.payloads.message("and again", thread_ts=mention["ts"])
        await post(fake, two, "events_api", fake.payloads.event_callback(follow_up))
        await fake.wait_for(lambda: len(upstream.requests) >= 2, START_SECONDS, "a second answer")
        await fake.wait_for(
            lambda: "You said: and again" in shown(fake, GENERAL, mention["ts"]),
            START_SECONDS,
            "the second answer shown",
        )
        # A slash command quotes its question before the store could tell a repeat:
        # only the sighting in Redis keeps the second worker from asking it again.
        command = fake.payloads.slash_command("/ask", "what is a monad?")
        await asyncio.gather(
            post(fake, one, "slash_commands", command),
            post(fake, two, "slash_commands", command),
        )
        await fake.wait_for(lambda: len(upstream.requests) >= 3, START_SECONDS, "the /ask answer")
    # The workers have stopped, each finishing what it had begun.
    history = [m["content"] for m in upstream.requests[1]["messages"][1:]]
    assert history == ["say it once", "You said: say it once", "and again"]
    assert shown(fake, GENERAL, mention["ts"]) == "You said: say it onceYou said: and again"
    assert len(upstream.requests) == 3
    asked = [m for m in bot_messages(fake, GENERAL) if m.thread_ts is None]
    assert len(asked) == 1
