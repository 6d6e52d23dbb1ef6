"""The store every core test runs on twice (a real SQLite file, and in memory), and the
service over it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.ports import ConversationStore
from bot.service import ReplyService
from bot.settings import UpstreamSettings
from bot.upstream import UpstreamClient
from storage import MemoryStore, SqliteStore
from tests.services import reply_service


@pytest.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConversationStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    async with await SqliteStore.open(tmp_path / "threadline.db") as sqlite:
        yield sqlite


@pytest.fixture
def service(
    store: ConversationStore, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> ReplyService:
    """The service over this test's store and the loopback upstream, test defaults."""
    return reply_service(store, client, upstream_settings)
