"""A question is never lost between the platform's event and its storage (issue 17).

A real ``threadline run`` on a SQLite file receives a question while the test holds
the file's write lock (``BEGIN EXCLUSIVE``, with ``STORAGE__BUSY_TIMEOUT_MS`` long):
the process has the event and cannot store it. It is SIGKILLed right there, the
lock is released, and the next start must answer the question, once, from the
platform's own record (Discord's channel history, Slack's ``conversations.*``):
neither platform delivers an event again after a process died (Discord replays
nothing after a fresh IDENTIFY; Slack had its ack).

Both the follow-up in a thread the bot already talks in and a new mention in a
channel it was used in are covered, on both platforms.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.fakes.discord import FakeDiscord
from tests.fakes.slack import SlackFake
from tests.fakes.upstream import FakeUpstream
from tests.slack.conftest import GENERAL, bot_messages
from tests.test_recovery import connected, ended, slack_env
from tests.test_run import discord_env, start_run

# The process waits this long on the locked file: far longer than the test holds it.
HELD = {"STORAGE__BUSY_TIMEOUT_MS": "120000", "LIMITS__REASK_WITHIN_SECONDS": "600"}
# After the platform has sent the event (Slack: and had its ack), the process gets
# this long to reach the locked write: a wait, not a measurement.
REACH = 1.0
ANSWER = "You said: asked in the window"

WHERE = pytest.mark.parametrize("where", ["follow-up", "mention"])


@contextlib.contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """Hold the SQLite file's write lock: no other process can store anything."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN EXCLUSIVE")
        yield
        db.execute("ROLLBACK")
    finally:
        db.close()


def stored_questions(path: Path, platform: str) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT text FROM turns WHERE role = 'user' AND platform = ? ORDER BY id", (platform,)
        )
        return [row[0] for row in rows]


def asked_upstream(upstream: FakeUpstream) -> list[str]:
    return [str(r["messages"][-1]["content"]) for r in upstream.requests]


def discord_answer(fake: FakeDiscord) -> bool:
    """The bot showed the answer to the question asked in the window, finished."""
    return any(
        m.author.id == fake.bot.id and m.content.startswith(ANSWER) and "⏳" not in m.content
        for m in fake.world.messages.values()
    )


def slack_answer(slack: SlackFake, thread: str) -> bool:
    return any(
        ANSWER in m.body and m.stream_state != "streaming"
        for m in bot_messages(slack, GENERAL, thread)
    )


async def killed(process: asyncio.subprocess.Process) -> None:
    process.kill()
    await process.wait()


@contextlib.asynccontextmanager
async def running(env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """A ``threadline run``: SIGKILLed if it still runs when the block raises, else
    stopped with SIGTERM, after which it must exit 0 (unless the block killed it)."""
    process = await start_run(env)
    try:
        yield process
    except BaseException:
        if process.returncode is None:
            await killed(process)
        raise
    killed_here = process.returncode is not None
    if not killed_here:
        process.terminate()
    code, err = await ended(process)
    assert killed_here or code == 0, err


@WHERE
async def test_discord_question_killed_before_its_storage_is_answered_at_start(
    upstream: FakeUpstream, tmp_path: Path, where: str
) -> None:
    async with FakeDiscord() as fake:
        env = discord_env(upstream, fake, tmp_path) | HELD
        path = tmp_path / "threadline.db"
        async with running(env) as process:
            await connected(fake)
            opened = await fake.dispatch_message(content="first question", mentions_bot=True)
            await fake.wait_for(lambda: len(asked_upstream(upstream)) == 1, 30)
            await fake.wait_for(lambda: "first question" in stored_questions(path, "discord"), 30)
            with write_locked(path):
                if where == "follow-up":
                    await fake.dispatch_message(opened, content="asked in the window")
                else:
                    await fake.dispatch_message(content="asked in the window", mentions_bot=True)
                await asyncio.sleep(REACH)
                await killed(process)
        assert "asked in the window" not in stored_questions(path, "discord")

        async with running(env):
            await fake.wait_for(lambda: discord_answer(fake), 60)
    asked = asked_upstream(upstream)
    assert sum("asked in the window" in q for q in asked) == 1, asked
    assert stored_questions(path, "discord").count("asked in the window") == 1


@WHERE
async def test_slack_question_killed_before_its_storage_is_answered_at_start(
    upstream: FakeUpstream, tmp_path: Path, where: str
) -> None:
    async with SlackFake() as slack:
        env = (
            slack_env(upstream, tmp_path, slack) | HELD | {"SLACK__HISTORY_IMPORT_INTERVAL": "0.2"}
        )
        path = tmp_path / "threadline.db"
        async with running(env) as process:
            await slack.wait_for(lambda: slack.socket.connections, 30, "socket")
            mention = slack.payloads.app_mention("first question")
            thread = str(mention["ts"])
            await slack.send_event(mention)
            await slack.wait_for(lambda: len(asked_upstream(upstream)) == 1, 30)
            await slack.wait_for(lambda: "first question" in stored_questions(path, "slack"), 30)
            with write_locked(path):
                if where == "follow-up":
                    event = slack.payloads.message("asked in the window", thread_ts=thread)
                else:
                    event = slack.payloads.app_mention("asked in the window")
                delivery = await slack.send_event(event)
                await slack.wait_for_ack(delivery, 30)
                await asyncio.sleep(REACH)
                await killed(process)
        assert not any("asked in the window" in q for q in stored_questions(path, "slack"))

        answer_thread = thread if where == "follow-up" else str(event["ts"])
        async with running(env):
            await slack.wait_for(lambda: slack_answer(slack, answer_thread), 60, "the answer")
    asked = asked_upstream(upstream)
    assert sum("asked in the window" in q for q in asked) == 1, asked
    assert sum("asked in the window" in q for q in stored_questions(path, "slack")) == 1
