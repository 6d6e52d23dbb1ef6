"""The store every core test runs on twice: a real SQLite file, and in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.ports import ConversationStore
from storage import MemoryStore, SqliteStore


@pytest.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConversationStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    async with await SqliteStore.open(tmp_path / "threadline.db") as sqlite:
        yield sqlite
