"""Crashes and shutdowns of a real ``threadline run`` process, against the loopback platforms.

- SIGKILL mid-answer, then start again: the answer's message is finished with
  the interrupted notice and the Regenerate button.
- SIGTERM mid-answer: within ``LIMITS__SHUTDOWN_GRACE_SECONDS`` the answer
  completes; past it, the answer is stopped (stopped notice, Regenerate). Exit 0.
- Slack: SIGKILL mid-answer (a native stream), then start again: the stream is
  ended with the interrupted notice.
- SIGKILL while a question waits its turn behind another answer: the next start
  answers it in its thread, once; the start after that does not answer it again
  (Discord and Slack).

Waits are on fake events (or the database) with timeouts; nothing asserts on time.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot import wording
from bot.domain import Role, StoredTurn, ThreadKey, TurnStatus
from storage import SqliteStore
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord.model import Message
from tests.fakes.slack import SlackFake
from tests.fakes.slack.state import MessageView
from tests.fakes.upstream import Answer, FakeUpstream
from tests.test_run import base_env, start_run

REGENERATE = "threadline:regenerate:"
SLACK_CHANNEL = "C0GENERAL1"


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake


def discord_env(
    upstream: FakeUpstream, fake: FakeDiscord, tmp_path: Path, **extra: str
) -> dict[str, str]:
    return (
        base_env(upstream, tmp_path)
        | {
            "DISCORD_TOKEN": fake.token,
            "DISCORD__API_BASE": fake.api_base,
            "DISCORD__GATEWAY_URL": fake.gateway_url,
            "STORAGE__FLUSH_INTERVAL": "0.05",
        }
        | extra
    )


async def connected(fake: FakeDiscord, identifies: int = 1) -> None:
    await fake.wait_for(lambda: (fake.stats().counts.get("identifies") or 0) >= identifies, 30)
    await fake.wait_for(lambda: (fake.stats().counts.get("command_syncs") or 0) >= identifies, 30)


def bot_message(
    fake: FakeDiscord, check: Callable[[Message], bool]
) -> Callable[[], Message | None]:
    def found() -> Message | None:
        return next(
            (m for m in fake.world.messages.values() if m.author.id == fake.bot.id and check(m)),
            None,
        )

    return found


def finished_answer(fake: FakeDiscord, text: str) -> Callable[[], Message | None]:
    """The bot's message showing ``text`` with Regenerate under it: an answer that ended."""
    return bot_message(fake, lambda m: m.content == text and has_regenerate(m))


def has_regenerate(message: Message) -> bool:
    return any((b.custom_id or "").startswith(REGENERATE) for b in message.buttons)


async def stored_answer(
    path: Path,
    message_id: int | str,
    check: Callable[[StoredTurn], bool],
    *,
    platform: str = "discord",
) -> StoredTurn:
    """Poll the database (the process is writing it) until the answer turn passes ``check``."""
    async with asyncio.timeout(30):
        while True:
            async with await SqliteStore.open(path) as store:
                stored = await store.find_by_message(platform, str(message_id))
            if stored is not None and check(stored):
                return stored
            await asyncio.sleep(0.05)


async def ended(process: asyncio.subprocess.Process) -> tuple[int, str]:
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_an_answer_cut_by_sigkill_is_finished_at_the_next_start(
    upstream: FakeUpstream, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    upstream.answer = Answer(tokens=5_000, tokens_per_s=20)  # still streaming when killed
    env = discord_env(upstream, discord_fake, tmp_path)
    process = await start_run(env)
    try:
        await connected(discord_fake)
        await discord_fake.dispatch_message(content="a long story, please", mentions_bot=True)
        answer = await discord_fake.wait_for(
            bot_message(discord_fake, lambda m: "tok tok" in m.content), 30
        )
        # The answer's words and its message are in the database before the crash.
        await stored_answer(
            tmp_path / "threadline.db",
            answer.id,
            lambda s: "tok tok" in s.turn.text and s.turn.status is TurnStatus.STREAMING,
        )
    finally:
        process.kill()
        await process.wait()
    assert "⏳" in discord_fake.message(answer.id).content  # left half-written

    restarted = await start_run(env)
    try:
        finished = await discord_fake.wait_for(
            lambda: (
                (m := discord_fake.message(answer.id)).content.endswith(
                    wording.interrupted_notice()
                )
                and has_regenerate(m)
                and m
            ),
            30,
        )
    finally:
        restarted.send_signal(signal.SIGTERM)
        code, err = await ended(restarted)
    assert code == 0, err
    assert "⏳" not in finished.content
    assert "tok tok" in finished.content
    assert [b.label for b in finished.buttons] == ["Regenerate"]  # Stop is gone
    stored = await stored_answer(tmp_path / "threadline.db", answer.id, lambda s: True)
    assert stored.turn.status is TurnStatus.INTERRUPTED
    assert finished.buttons[0].custom_id == f"{REGENERATE}{stored.turn.id}"


async def sigterm_mid_answer(
    env: dict[str, str], fake: FakeDiscord, prompt: str
) -> tuple[int, str, Message]:
    """Start `run`, mention it, SIGTERM once the answer is streaming; how it ended."""
    process = await start_run(env)
    try:
        await connected(fake)
        await fake.dispatch_message(content=prompt, mentions_bot=True)
        answer = await fake.wait_for(bot_message(fake, lambda m: "tok tok" in m.content), 30)
    finally:
        process.send_signal(signal.SIGTERM)
        code, err = await ended(process)
    return code, err, answer


async def test_sigterm_lets_an_answer_in_flight_finish_within_the_grace(
    upstream: FakeUpstream, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    upstream.answer = Answer(tokens=60, tokens_per_s=20)
    env = discord_env(upstream, discord_fake, tmp_path, LIMITS__SHUTDOWN_GRACE_SECONDS="120")
    code, err, answer = await sigterm_mid_answer(env, discord_fake, "count for me")
    assert code == 0, err
    final = discord_fake.message(answer.id)
    assert final.content.count("tok") == 60
    assert "⏳" not in final.content
    assert wording.stopped_notice() not in final.content
    assert [b.label for b in final.buttons] == ["Regenerate"]
    stored = await stored_answer(tmp_path / "threadline.db", answer.id, lambda s: True)
    assert stored.turn.status is TurnStatus.COMPLETE


async def test_sigterm_stops_an_answer_that_outlasts_the_grace(
    upstream: FakeUpstream, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    upstream.answer = Answer(tokens=5_000, tokens_per_s=20)
    env = discord_env(upstream, discord_fake, tmp_path, LIMITS__SHUTDOWN_GRACE_SECONDS="0")
    code, err, answer = await sigterm_mid_answer(env, discord_fake, "a long story, please")
    assert code == 0, err
    final = discord_fake.message(answer.id)
    assert final.content.endswith(wording.stopped_notice())
    assert [b.label for b in final.buttons] == ["Regenerate"]
    stored = await stored_answer(tmp_path / "threadline.db", answer.id, lambda s: True)
    assert stored.turn.status is TurnStatus.INTERRUPTED


async def slack_answer_streaming(slack: SlackFake) -> MessageView:
    """Once ``threadline run`` is connected: mention it, and wait until its answer streams."""
    await slack.wait_for(lambda: slack.socket.connections, 30, "socket")
    await slack.send_event(slack.payloads.app_mention("a long story, please"))
    await slack.wait_for(
        lambda: slack_answer(slack, lambda m: "tok tok" in m.body), 30, "the answer"
    )
    answer = slack_answer(slack, lambda m: "tok tok" in m.body)
    assert answer is not None
    return answer


def slack_answer(slack: SlackFake, check: Callable[[MessageView], bool]) -> MessageView | None:
    """The bot's reply in #general's threads that passes ``check``."""
    replies = [
        reply
        for top in slack.messages(SLACK_CHANNEL)
        for reply in slack.messages(SLACK_CHANNEL, top.ts)
        if reply.bot_id is not None and reply.ts != top.ts
    ]
    return next((m for m in replies if check(m)), None)


def slack_env(upstream: FakeUpstream, tmp_path: Path, slack: SlackFake) -> dict[str, str]:
    """``threadline run`` on the Slack fake (Socket Mode), flushing answers every 50 ms."""
    return base_env(upstream, tmp_path) | {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK__API_URL": slack.base_url,
        "STORAGE__FLUSH_INTERVAL": "0.05",
    }


async def test_a_slack_answer_cut_by_sigkill_is_finished_at_the_next_start(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.answer = Answer(tokens=5_000, tokens_per_s=20)  # still streaming when killed
    async with SlackFake() as slack:
        env = slack_env(upstream, tmp_path, slack)
        process = await start_run(env)
        try:
            answer = await slack_answer_streaming(slack)
            await stored_answer(
                tmp_path / "threadline.db",
                f"{answer.channel}:{answer.ts}",
                lambda s: "tok tok" in s.turn.text,
                platform="slack",
            )
        finally:
            process.kill()
            await process.wait()

        restarted = await start_run(env)
        try:
            await slack.wait_for(
                lambda: slack_answer(
                    slack,
                    lambda m: m.ts == answer.ts and m.body.endswith(wording.interrupted_notice()),
                ),
                30,
                "the finished answer",
            )
        finally:
            restarted.send_signal(signal.SIGTERM)
            code, err = await ended(restarted)
    assert code == 0, err
    finished = slack_answer(slack, lambda m: m.ts == answer.ts)
    assert finished is not None
    assert "tok tok" in finished.body
    assert finished.stream_state != "streaming"


# -- questions a kill left waiting -------------------------------------------------------


async def stored_question(path: Path, message_id: str, *, platform: str = "discord") -> int:
    """The question's turn id, once the process has stored it."""
    stored = await stored_answer(path, message_id, lambda s: True, platform=platform)
    assert stored.turn.id is not None
    return stored.turn.id


async def answers_in_file(path: Path, key: ThreadKey, question_id: int) -> list[TurnStatus]:
    """The statuses of every answer turn to one question (the process is stopped)."""
    async with await SqliteStore.open(path) as store:
        window = await store.history(key, token_budget=10**9, max_turns=1000)
    return [
        t.status for t in window.turns if t.role is Role.ASSISTANT and t.reply_to == question_id
    ]


async def test_a_question_a_sigkill_left_waiting_is_answered_at_the_next_start(
    upstream: FakeUpstream, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    fake, path = discord_fake, tmp_path / "threadline.db"
    upstream.answer = Answer(tokens=5_000, tokens_per_s=20)  # the first answer holds the thread
    env = discord_env(upstream, fake, tmp_path)
    process = await start_run(env)
    try:
        await connected(fake)
        first = await fake.dispatch_message(content="a long story, please", mentions_bot=True)
        thread = await fake.wait_for(lambda: first in fake.world.channels and first, 30)
        await fake.wait_for(bot_message(fake, lambda m: "tok tok" in m.content), 30)
        second = await fake.dispatch_message(thread, content="and a second one")
        question = await stored_question(path, str(second))
    finally:
        process.kill()
        await process.wait()
    key = ThreadKey("discord", str(fake.guild.id), str(fake.channel().id), str(thread))
    assert await answers_in_file(path, key, question) == []

    upstream.answer = Answer()
    restarted = await start_run(env)
    try:
        answer = await fake.wait_for(finished_answer(fake, "You said: and a second one"), 30)
    finally:
        restarted.send_signal(signal.SIGTERM)
        code, err = await ended(restarted)
    assert code == 0, err
    assert answer.channel_id == thread
    assert await answers_in_file(path, key, question) == [TurnStatus.COMPLETE]

    # Started again: a new question in the thread is answered, and the one answered
    # before is not (it would have taken the thread's turn first).
    again = await start_run(env)
    try:
        await connected(fake, identifies=3)
        await fake.dispatch_message(thread, content="a third")
        await fake.wait_for(finished_answer(fake, "You said: a third"), 30)
    finally:
        again.send_signal(signal.SIGTERM)
        code, err = await ended(again)
    assert code == 0, err
    said = [m.content for m in fake.messages(thread) if m.author.id == fake.bot.id]
    assert said[1:] == ["You said: and a second one", "You said: a third"]
    assert await answers_in_file(path, key, question) == [TurnStatus.COMPLETE]


async def test_a_slack_question_a_sigkill_left_waiting_is_answered_at_the_next_start(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "threadline.db"
    upstream.answer = Answer(tokens=5_000, tokens_per_s=20)  # the first answer holds the thread
    async with SlackFake() as slack:
        env = slack_env(upstream, tmp_path, slack)
        process = await start_run(env)
        try:
            await slack.wait_for(lambda: slack.socket.connections, 30, "socket")
            mention = slack.payloads.app_mention("a long story, please")
            thread = str(mention["ts"])
            await slack.send_event(mention)
            await slack.wait_for(
                lambda: slack_answer(slack, lambda m: "tok tok" in m.body), 30, "the answer"
            )
            second = slack.payloads.message("and a second one", thread_ts=thread)
            await slack.send_event(second)
            second_id = f"{SLACK_CHANNEL}:{second['ts']}"
            question = await stored_question(path, second_id, platform="slack")
        finally:
            process.kill()
            await process.wait()

        upstream.answer = Answer()
        restarted = await start_run(env)
        try:
            await slack.wait_for(
                lambda: slack_answer(
                    slack,
                    lambda m: (
                        m.body == "You said: and a second one" and m.stream_state != "streaming"
                    ),
                ),
                30,
                "the answer to the waiting question",
            )
        finally:
            restarted.send_signal(signal.SIGTERM)
            code, err = await ended(restarted)
    assert code == 0, err
    key = ThreadKey("slack", slack.workspace.team_id, SLACK_CHANNEL, thread)
    assert await answers_in_file(path, key, question) == [TurnStatus.COMPLETE]
