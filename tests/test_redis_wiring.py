"""``REDIS_URL``: refused with a sentence when wrong, a secret when it carries a password,
and ``threadline run`` shares its state through the server when it is set."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.redact import configured_secrets
from bot.settings import load_settings
from tests.fakes.discord import FakeDiscord
from tests.fakes.upstream import FakeUpstream
from tests.test_run import discord_env, start_run, stop

PASSWORD = "s3cret-redis-password"


@pytest.fixture(autouse=True)
def no_redis_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379/0", "redis://127.0.0.1:port/0", "valkey"])
def test_a_redis_url_that_is_not_one_is_refused_naming_it(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(env_file=None, redis_url=url)
    assert "REDIS_URL must be a redis://, rediss:// or unix:// URL" in refused.value.user_message


def test_a_redis_password_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://:{PASSWORD}@redis.internal:6379/0")
    settings = load_settings(env_file=None)
    assert settings.redis_url is not None
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings.model_dump())
    assert PASSWORD in [s.get_secret_value() for s in configured_secrets(settings)]


def test_an_empty_redis_url_means_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "")
    assert load_settings(env_file=None).redis_url is None


async def test_run_refuses_a_redis_it_cannot_reach_in_one_sentence(
    upstream: FakeUpstream, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    with socket.socket() as bound:  # bound, not listening: connecting is refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        env = discord_env(upstream, discord_fake, tmp_path)
        env["REDIS_URL"] = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
        process = await start_run(env)
        _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    text = err.decode()
    assert f"cannot use the Redis server at 127.0.0.1:{port}/0" in text
    assert PASSWORD not in text
    assert len(text.strip().splitlines()) == 1


async def test_run_answers_with_a_shared_redis(
    upstream: FakeUpstream, discord_fake: FakeDiscord, tmp_path: Path, redis_url: str
) -> None:
    env = discord_env(upstream, discord_fake, tmp_path) | {"REDIS_URL": redis_url}
    process = await start_run(env)
    try:
        await discord_fake.wait_for(lambda: discord_fake.stats().counts.get("identifies"), 30)
        await discord_fake.dispatch_message(content="what is WAL?", mentions_bot=True)
        await discord_fake.wait_for(
            lambda: any(
                m.content == "You said: what is WAL?" for m in discord_fake.world.messages.values()
            ),
            30,
        )
    finally:
        code, err = await stop(process)
    assert code == 0, err
