"""Stores for the contract suite: every test runs on SQLite (a real file) and in memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from storage import MemoryStore, SqliteStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from bot.ports import ConversationStore


@pytest.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConversationStore]:
    opened: ConversationStore
    if request.param == "sqlite":
        opened = await SqliteStore.open(tmp_path / "threadline.db")
    else:
        opened = MemoryStore()
    try:
        yield opened
    finally:
        await opened.close()
