"""PostgreSQL as the store: chosen by STORAGE__URL, migrated once by many workers, checked
by ``threadline check``, and refused with one sentence (never the password) when unusable."""

from __future__ import annotations

import asyncio
import json
import os
from typing import TYPE_CHECKING

import asyncpg
import pytest

from adapters.console.terminal import console_key
from bot.domain import Role, TurnStatus
from bot.errors import ConfigError
from bot.redact import REDACTED, Redactor, configured_secrets
from bot.settings import load_settings
from storage.postgres import PostgresStore
from storage.schema import LATEST_VERSION
from tests.fakes.upstream import API_KEY
from tests.servers.postgres import with_database
from tests.test_cli import ROOT, threadline

if TYPE_CHECKING:
    from pathlib import Path

    from tests.fakes.upstream import FakeUpstream
    from tests.servers.postgres import Databases


@pytest.fixture
async def empty_database(postgres_url: str) -> str:
    """A new database with no tables at all (not copied from the migrated template)."""
    name = f"empty_{os.getpid()}_{id(object())}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return with_database(postgres_url, name)


def cli_env(upstream: FakeUpstream, tmp_path: Path, url: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_BASE_URL": upstream.base_url,
        "STORAGE__PATH": str(tmp_path / "unused.db"),
        "STORAGE__URL": url,
    }


def password_of(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


async def test_workers_starting_together_migrate_once(empty_database: str) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(empty_database) for _ in range(6)))
    for store in stores:
        await store.close()
    conn = await asyncpg.connect(empty_database)
    try:
        assert await conn.fetch("SELECT version FROM threadline_schema") == [(LATEST_VERSION,)]
    finally:
        await conn.close()


async def test_a_database_from_a_newer_threadline_is_refused(empty_database: str) -> None:
    await (await PostgresStore.open(empty_database)).close()
    conn = await asyncpg.connect(empty_database)
    await conn.execute("UPDATE threadline_schema SET version = $1", LATEST_VERSION + 1)
    await conn.close()
    with pytest.raises(ConfigError, match="newer threadline") as refused:
        await PostgresStore.open(empty_database)
    assert password_of(empty_database) not in str(refused.value)


async def test_a_wrong_password_is_one_sentence_without_it(postgres_url: str) -> None:
    wrong = postgres_url.replace(password_of(postgres_url), "not-the-password-42")
    with pytest.raises(ConfigError, match="refused the user name or password") as refused:
        await PostgresStore.open(wrong)
    assert "not-the-password-42" not in str(refused.value)
    assert "STORAGE__URL" in str(refused.value)


async def test_ask_keeps_its_thread_in_postgresql(
    postgres_databases: Databases, upstream: FakeUpstream, tmp_path: Path
) -> None:
    url = await postgres_databases.fresh()
    env = cli_env(upstream, tmp_path, url)
    assert (await threadline(env, "ask", "--thread", "t1", "first"))[:2] == (0, "You said: first\n")
    assert (await threadline(env, "ask", "--thread", "t1", "second"))[0] == 0
    assert upstream.requests[-1]["messages"][-3:] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "You said: first"},
        {"role": "user", "content": "second"},
    ]
    assert not (tmp_path / "unused.db").exists()
    async with await PostgresStore.open(url) as store:
        window = await store.history(console_key("t1"), token_budget=10**6, max_turns=10)
    assert [(t.role, t.text) for t in window.turns][-1] == (Role.ASSISTANT, "You said: second")
    assert all(t.status is TurnStatus.COMPLETE for t in window.turns)
    code, out, _ = await threadline(env, "history", "--thread", "t1", "--json")
    assert code == 0
    assert [t["text"] for t in json.loads(out)] == [
        "first",
        "You said: first",
        "second",
        "You said: second",
    ]
    code, out, _ = await threadline(env, "threads", "--json")
    assert [(t["thread"], t["turns"]) for t in json.loads(out)] == [("t1", 4)]


async def test_check_reports_postgresql_ok_and_not_ok(
    postgres_databases: Databases, upstream: FakeUpstream, tmp_path: Path
) -> None:
    url = await postgres_databases.fresh()
    password = password_of(url)
    code, out, err = await threadline(cli_env(upstream, tmp_path, url), "check")
    assert code == 0, err
    assert "database: ok" in out
    assert password not in out + err
    gone = url.rsplit("/", 1)[0] + "/no_such_database"
    code, out, err = await threadline(cli_env(upstream, tmp_path, gone), "check")
    assert code == 2
    assert "database: not ok" in out
    assert "no such database" in err
    assert password not in out + err


async def test_an_unknown_scheme_is_refused_with_one_sentence(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    env = cli_env(upstream, tmp_path, "mysql://bot:hunter2-secret@db:3306/threadline")
    code, out, err = await threadline(env, "ask", "hi")
    assert code == 2
    assert "STORAGE__URL must start with postgresql:// or sqlite:///" in err
    assert "hunter2-secret" not in out + err


async def test_a_sqlite_url_names_the_file(upstream: FakeUpstream, tmp_path: Path) -> None:
    env = cli_env(upstream, tmp_path, f"sqlite:///{tmp_path / 'chosen.db'}")
    assert (await threadline(env, "ask", "hi"))[0] == 0
    assert (tmp_path / "chosen.db").exists()
    assert not (tmp_path / "unused.db").exists()


def test_the_storage_urls_password_is_a_configured_secret() -> None:
    settings = load_settings(None, storage={"url": "postgresql://bot:s3cret-pw-77@db:5432/t"})
    redact = Redactor(configured_secrets(settings))
    assert redact("connecting to s3cret-pw-77 failed") == f"connecting to {REDACTED} failed"
