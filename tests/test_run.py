"""``threadline run`` as an operator starts it: a real process against loopback platforms."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.discord import FakeDiscord
from tests.fakes.slack import SlackFake
from tests.fakes.upstream import API_KEY, FakeUpstream

ROOT = Path(__file__).resolve().parent.parent


def base_env(upstream: FakeUpstream, tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_BASE_URL": upstream.base_url,
        "STORAGE__PATH": str(tmp_path / "threadline.db"),
    }


def discord_env(upstream: FakeUpstream, fake: FakeDiscord, tmp_path: Path) -> dict[str, str]:
    return base_env(upstream, tmp_path) | {
        "DISCORD_TOKEN": fake.token,
        "DISCORD__API_BASE": fake.api_base,
        "DISCORD__GATEWAY_URL": fake.gateway_url,
    }


async def start_run(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop(process: asyncio.subprocess.Process) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, err.decode()


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake


async def test_run_answers_a_discord_mention_and_stops_on_sigterm(
    upstream: FakeUpstream, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    env = discord_env(upstream, discord_fake, tmp_path)
    process = await start_run(env)
    try:
        await discord_fake.wait_for(lambda: discord_fake.stats().counts.get("identifies"), 30)
        await discord_fake.wait_for(lambda: discord_fake.stats().counts.get("command_syncs"), 30)
        await discord_fake.dispatch_message(content="what is WAL?", mentions_bot=True)
        answer = await discord_fake.wait_for(
            lambda: next(
                (
                    m
                    for m in discord_fake.world.messages.values()
                    if m.content == "You said: what is WAL?"
                ),
                None,
            ),
            30,
        )
        assert answer.channel_id != discord_fake.channel().id  # answered in a new thread
    finally:
        code, err = await stop(process)
    assert code == 0, err
    assert "answering on discord" in err
    assert discord_fake.token not in err


async def test_run_answers_a_slack_mention_over_socket_mode(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    async with SlackFake() as slack:
        env = base_env(upstream, tmp_path) | {
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_APP_TOKEN": slack.app_token,
            "SLACK__API_URL": slack.base_url,
        }
        process = await start_run(env)
        try:
            await slack.wait_for(lambda: slack.socket.connections, 30, "socket")
            await slack.send_event(slack.payloads.app_mention("what is WAL?"))

            def answered() -> bool:
                return any(
                    "You said: what is WAL?" in (m.markdown or m.text)
                    for m in slack.messages("C0GENERAL1", include_deleted=False)
                    + [
                        reply
                        for top in slack.messages("C0GENERAL1")
                        for reply in slack.messages("C0GENERAL1", top.ts)
                    ]
                )

            await slack.wait_for(answered, 30, "the answer")
        finally:
            code, err = await stop(process)
    assert code == 0, err
    assert slack.bot_token not in err


async def test_a_refused_discord_token_is_a_clear_sentence(
    upstream: FakeUpstream, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    env = discord_env(upstream, discord_fake, tmp_path) | {"DISCORD_TOKEN": "not-the-token"}
    process = await start_run(env)
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert "Discord refused DISCORD_TOKEN" in err.decode()


async def test_run_applies_the_configured_rate_limit_with_a_sentence(
    upstream: FakeUpstream, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    env = discord_env(upstream, discord_fake, tmp_path) | {"QUOTA__USER_PER_MINUTE": "1"}
    process = await start_run(env)
    try:
        await discord_fake.wait_for(lambda: discord_fake.stats().counts.get("identifies"), 30)
        for text in ("first question", "second question"):
            await discord_fake.dispatch_message(content=text, mentions_bot=True)
        refusal = await discord_fake.wait_for(
            lambda: next(
                (
                    m
                    for m in discord_fake.world.messages.values()
                    if "faster than I answer them" in m.content
                ),
                None,
            ),
            30,
        )
        assert refusal.content.endswith("Please ask again in 1 minute.")
        await discord_fake.wait_for(
            lambda: any(
                m.content == "You said: first question"
                for m in discord_fake.world.messages.values()
            ),
            30,
        )
    finally:
        code, err = await stop(process)
    assert code == 0, err
