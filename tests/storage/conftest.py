"""Stores for the contract suite: every test runs on SQLite (a real file), in memory and on
a real PostgreSQL (one server per session, its tables emptied before each test)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from storage import MemoryStore, SqliteStore
from storage.postgres import PostgresStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from bot.ports import ConversationStore
    from tests.servers.postgres import Databases


@pytest.fixture(params=["sqlite", "memory", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConversationStore]:
    opened: ConversationStore
    if request.param == "sqlite":
        opened = await SqliteStore.open(tmp_path / "threadline.db")
    elif request.param == "postgres":
        databases: Databases = request.getfixturevalue("postgres_databases")
        opened = await PostgresStore.open(await databases.emptied())
    else:
        opened = MemoryStore()
    try:
        yield opened
    finally:
        await opened.close()
