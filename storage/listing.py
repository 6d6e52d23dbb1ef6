"""What ``threadline threads`` and ``history`` print: the stored conversations, read only.

Read with plain sqlite3 in ``mode=ro``: looking never creates a database file,
never migrates one, and sees every turn as stored, failed answers included
(``SqliteStore.history`` leaves those out because they are never context).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

from bot.domain import ThreadKey, Usage


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    key: ThreadKey
    turns: int
    model: str | None  # the model the conversation was set to (``--model``, ``/model``)
    last_at: float | None  # when its newest turn was stored (epoch seconds)


@dataclass(frozen=True, slots=True)
class ListedTurn:
    id: int
    role: str
    author: str
    status: str
    model: str | None
    text: str
    usage: Usage | None
    trace_id: str | None
    created_at: float


THREADS_SQL = """
SELECT c.platform, c.workspace, c.channel, c.thread, c.model, count(t.id), max(t.created_at)
FROM conversations c LEFT JOIN turns t ON t.conversation_id = c.id
GROUP BY c.id ORDER BY coalesce(max(t.created_at), c.created_at) DESC
"""
TURNS_SQL = """
SELECT t.id, t.role, t.author_name, t.status, t.model, t.text, t.prompt_tokens,
       t.completion_tokens, t.trace_id, t.created_at
FROM turns t JOIN conversations c ON c.id = t.conversation_id
WHERE c.platform = ? AND c.workspace = ? AND c.channel = ? AND c.thread = ?
ORDER BY coalesce(t.reply_to, t.id), t.id
"""
_EXISTS = (
    "SELECT 1 FROM conversations WHERE platform = ? AND workspace = ? AND channel = ? "
    "AND thread = ?"
)


async def threads(path: Path) -> list[ThreadSummary]:
    """Every stored conversation, the most recently active first ([] without a database)."""
    return await asyncio.to_thread(_threads, path)


async def turns(path: Path, key: ThreadKey) -> list[ListedTurn] | None:
    """The conversation's turns in order, or None when no such conversation is stored."""
    return await asyncio.to_thread(_turns, path, key)


def _connect(path: Path) -> sqlite3.Connection | None:
    if not path.is_file():
        return None
    return sqlite3.connect(f"file:{pathname2url(str(path.resolve()))}?mode=ro", uri=True)


def _threads(path: Path) -> list[ThreadSummary]:
    db = _connect(path)
    if db is None:
        return []
    with contextlib.closing(db):
        rows = db.execute(THREADS_SQL).fetchall()
    return [
        ThreadSummary(ThreadKey(*row[:4]), turns=row[5], model=row[4], last_at=row[6])
        for row in rows
    ]


def _turns(path: Path, key: ThreadKey) -> list[ListedTurn] | None:
    db = _connect(path)
    if db is None:
        return None
    params = (key.platform, key.workspace, key.channel, key.thread)
    with contextlib.closing(db):
        exists = db.execute(_EXISTS, params).fetchone() is not None
        rows = db.execute(TURNS_SQL, params).fetchall()
    if not exists:
        return None
    return [listed(row) for row in rows]


def listed(row: Any) -> ListedTurn:
    turn_id, role, author, status, model, text, prompt, completion, trace_id, created = row
    usage = None
    if prompt is not None or completion is not None:
        usage = Usage(prompt or 0, completion or 0)
    return ListedTurn(turn_id, role, author or "", status, model, text, usage, trace_id, created)
