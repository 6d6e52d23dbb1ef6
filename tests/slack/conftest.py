"""A running SlackBot against the loopback Slack, the real ReplyService and the fake upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from adapters.slack import SlackBot
from bot.conversations import Conversations
from bot.models import ModelCatalog
from bot.ports import ConversationStore
from bot.service import ReplyService
from bot.settings import ConversationLimits, Settings, SlackSettings, UpstreamSettings
from bot.upstream import UpstreamClient
from storage import MemoryStore, SqliteStore
from tests.fakes.slack import SlackFake
from tests.fakes.slack.fixtures import (  # noqa: F401 - fixtures used by name
    slack_fake_fixture,
    slack_fake_limits_fixture,
)
from tests.services import reply_service

GENERAL = "C0GENERAL1"
DM = "D0ALICE001"
ALICE = "U0ALICE001"
BOT = "U0BOT00001"
TEAM = "T0FAKE0001"

MakeBot = Callable[..., Awaitable[SlackBot]]


@pytest.fixture
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConversationStore]:
    """A MemoryStore; ``parametrize("store", ["sqlite"], indirect=True)`` for SQLite."""
    if getattr(request, "param", "memory") == "memory":
        yield MemoryStore()
        return
    async with await SqliteStore.open(tmp_path / "threadline.db") as sqlite:
        yield sqlite


@pytest.fixture
def service(
    store: ConversationStore, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> ReplyService:
    return reply_service(store, client, upstream_settings)


def slack_settings(fake: SlackFake, *, http: bool = False, **changes: Any) -> SlackSettings:
    """Settings pointing at the fake, with short clocks for streaming."""
    values: dict[str, Any] = {
        "bot_token": SecretStr(fake.bot_token),
        "api_url": fake.base_url,
        "http_host": "127.0.0.1",
        "http_port": 0,
        "stream_append_interval": 0.05,
        "stream_appends_per_minute": 6_000,
        "stream_rollover_seconds": 1.5,  # the fake ends streams after 2 s
    }
    if http:
        values["signing_secret"] = SecretStr(fake.signing_secret)
    else:
        values["app_token"] = SecretStr(fake.app_token)
    return SlackSettings(**(values | changes))


@pytest.fixture
async def make_bot(
    slack_fake: SlackFake,
    service: ReplyService,
    store: ConversationStore,
    upstream_settings: UpstreamSettings,
) -> AsyncIterator[MakeBot]:
    """Start SlackBots (Socket Mode unless ``http=True``); all are stopped afterwards.

    ``recover``: start as ``threadline run`` does after a stop, finishing the answers
    it cut and answering the questions it left waiting; ``limits``: its LIMITS__*."""
    bots: list[SlackBot] = []

    async def make(
        *,
        http: bool = False,
        recover: bool = False,
        limits: ConversationLimits | None = None,
        **changes: Any,
    ) -> SlackBot:
        settings = Settings(
            _env_file=None,
            upstream=upstream_settings,
            slack=slack_settings(slack_fake, http=http, **changes),
            limits=limits or ConversationLimits(),
        )
        if recover:
            await store.interrupt_streaming()
        bot = SlackBot(
            settings,
            service=service,
            conversations=Conversations(store),
            catalog=ModelCatalog(upstream_settings),
            unanswered=await service.unanswered() if recover else (),
            installs=store,
        )
        await bot.start()
        bots.append(bot)
        if not http:
            await slack_fake.wait_for(lambda: slack_fake.socket.connections, what="socket")
        return bot

    yield make
    for bot in bots:
        await bot.stop()


def events_url(bot: SlackBot) -> str:
    """Where an HTTP-mode bot takes Slack's POSTs."""
    assert bot.http_address is not None
    host, port = bot.http_address
    return f"http://{host}:{port}/slack/events"


def bot_messages(fake: SlackFake, channel: str, thread_ts: str | None = None) -> list[Any]:
    """The bot's messages in a thread (or a whole channel), oldest first; the small
    messages holding an answer's Stop or Regenerate button are left out (see ``buttons``)."""
    return [m for m in fake.messages(channel, thread_ts) if m.user == BOT and not holds_button(m)]


def holds_button(message: Any) -> bool:
    return any(b.get("type") == "actions" for b in message.blocks)


def buttons(fake: SlackFake, channel: str, thread_ts: str | None = None) -> list[tuple[str, str]]:
    """(action_id, value) of the buttons the bot shows in a thread, oldest first."""
    return [
        (element["action_id"], element["value"])
        for m in fake.messages(channel, thread_ts)
        if m.user == BOT
        for block in m.blocks
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


def shown(fake: SlackFake, channel: str, thread_ts: str | None = None) -> str:
    """Everything the bot shows in a thread, its messages joined."""
    return "".join(m.body for m in bot_messages(fake, channel, thread_ts))


async def wait_shown(
    fake: SlackFake, channel: str, thread_ts: str | None, text: str, timeout: float = 5.0
) -> None:
    await fake.wait_for(
        lambda: shown(fake, channel, thread_ts) == text,
        timeout,
        f"{text!r} shown in {channel}/{thread_ts}",
    )
