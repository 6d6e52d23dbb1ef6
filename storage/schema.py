"""The SQLite schema as an ordered list of migrations, keyed on ``PRAGMA user_version``.

``MIGRATIONS[i]`` takes a file from version ``i`` to ``i + 1``. A file is upgraded
in one ``BEGIN IMMEDIATE`` transaction (SQLite DDL and ``user_version`` are
transactional), so a crash mid-upgrade leaves the old version intact. Steps are
append-only: never edit a shipped step, add a new one.

Version history:
    1  conversations and turns; turn ids never reused (AUTOINCREMENT), so a
       ``reset`` boundary stays valid after the newest turn is deleted.
    2  token usage per turn, the bot's reply message ids (``message_refs``, plus
       a copy on the turn so history reads need no join), an index for usage sums.
    3  ``reply_to`` (the question an answer answers) and the thread-order index.
    4  ``rate_buckets``: token-bucket levels for the rate limits (bot/allowance.py),
       so a restart does not hand everyone a fresh burst.
    5  triggers keep ``message_refs`` in step with ``turns.reply_ids``, so recording
       an answer's messages is one statement (one worker-thread trip and one commit)
       instead of a transaction of five.
    6  questions stored ``pending`` until answered: a trigger marks a question
       ``complete`` when its answer is stored (same statement, no extra commit),
       and a partial index finds the unanswered ones at start. Rows stored
       before v6 are ``complete``: none of them is asked again after the upgrade.
    7  ``delivery`` on answers: ``pending`` until the platform confirmed the final
       text, kept apart from ``status``, so an outage cannot make an answer look
       shown; a partial index finds what is owed at start. Rows stored before v7
       have none (nothing is owed for them).
    8  ``max_tokens`` and ``response_format`` per conversation (``/settings``, with
       the v1 ``temperature``); ``usage_estimated`` per turn (1: the usage is
       threadline's estimate, not the server's figure; rows before v8 say 0).
    9  ``installations``: Slack OAuth installs (one JSON document per enterprise,
       team and user; user "" is the workspace's newest bot install), so one
       deployment serves many workspaces.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import TYPE_CHECKING

from bot.errors import ConfigError

if TYPE_CHECKING:
    import aiosqlite

_V1 = (
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL,
        channel TEXT NOT NULL,
        thread TEXT NOT NULL,
        model TEXT,
        system_prompt TEXT,
        temperature REAL,
        context_start_turn_id INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        UNIQUE (platform, workspace, channel, thread)
    )
    """,
    """
    CREATE TABLE turns (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        platform TEXT NOT NULL,
        role TEXT NOT NULL,
        author_id TEXT NOT NULL DEFAULT '',
        author_name TEXT NOT NULL DEFAULT '',
        requester_id TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL,
        parts TEXT,
        platform_message_id TEXT,
        status TEXT NOT NULL,
        model TEXT,
        trace_id TEXT,
        tokens INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL
    )
    """,
    # NULL ids (assistant turns, console turns) may repeat: SQLite treats NULLs as distinct.
    "CREATE UNIQUE INDEX turns_by_message ON turns (platform, platform_message_id)",
    "CREATE INDEX turns_by_conversation ON turns (conversation_id, id)",
    # Tiny partial index: start-up recovery finds streaming turns without a full scan.
    "CREATE INDEX turns_streaming ON turns (id) WHERE status = 'streaming'",
)

_V2 = (
    "ALTER TABLE turns ADD COLUMN prompt_tokens INTEGER",
    "ALTER TABLE turns ADD COLUMN completion_tokens INTEGER",
    # JSON array of the reply ids, the value history reads; message_refs is its lookup index.
    "ALTER TABLE turns ADD COLUMN reply_ids TEXT",
    """
    CREATE TABLE message_refs (
        platform TEXT NOT NULL,
        message_id TEXT NOT NULL,
        turn_id INTEGER NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
        PRIMARY KEY (platform, message_id)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX message_refs_by_turn ON message_refs (turn_id)",
    # Only turns that carry usage (assistant answers) enter this index.
    """
    CREATE INDEX turns_usage ON turns (platform, created_at)
    WHERE prompt_tokens IS NOT NULL OR completion_tokens IS NOT NULL
    """,
)

_V3 = (
    "ALTER TABLE turns ADD COLUMN reply_to INTEGER",
    # Thread order: an answer sorts right after the question it answers, even when
    # later questions were stored while it streamed. History pages walk this index
    # newest-first; it also serves every conversation_id lookup, so the v1 index goes.
    "CREATE INDEX turns_in_thread_order ON turns (conversation_id, coalesce(reply_to, id), id)",
    "DROP INDEX turns_by_conversation",
)

_V4 = (
    """
    CREATE TABLE rate_buckets (
        scope TEXT PRIMARY KEY,
        level REAL NOT NULL,
        updated_at REAL NOT NULL
    ) WITHOUT ROWID
    """,
)

# message_refs is the lookup index of turns.reply_ids (a JSON array of message ids):
# SQLite rewrites it whenever the ids change, in the statement's own transaction.
_REFS_FROM_NEW = (
    "INSERT OR REPLACE INTO message_refs (platform, message_id, turn_id) "
    "SELECT NEW.platform, value, NEW.id FROM json_each(NEW.reply_ids);"
)
_V5 = (
    f"""
    CREATE TRIGGER message_refs_on_insert AFTER INSERT ON turns
    WHEN NEW.reply_ids IS NOT NULL
    BEGIN {_REFS_FROM_NEW} END
    """,
    f"""
    CREATE TRIGGER message_refs_on_update AFTER UPDATE OF reply_ids ON turns
    WHEN NEW.reply_ids IS NOT OLD.reply_ids
    BEGIN DELETE FROM message_refs WHERE turn_id = NEW.id; {_REFS_FROM_NEW} END
    """,
)

_V6 = (
    # Storing an answer answers its question (whatever becomes of the answer).
    """
    CREATE TRIGGER questions_answered AFTER INSERT ON turns
    WHEN NEW.reply_to IS NOT NULL
    BEGIN
        UPDATE turns SET status = 'complete'
        WHERE id = NEW.reply_to AND conversation_id = NEW.conversation_id AND status = 'pending';
    END
    """,
    # Tiny partial index: start-up finds unanswered questions without a full scan.
    "CREATE INDEX turns_pending ON turns (id) WHERE status = 'pending'",
)

_V7 = (
    "ALTER TABLE turns ADD COLUMN delivery TEXT",
    # Tiny partial index: start-up finds the answers still owed to a platform.
    "CREATE INDEX turns_undelivered ON turns (id) WHERE delivery = 'pending'",
)


_V8 = (
    "ALTER TABLE conversations ADD COLUMN max_tokens INTEGER",
    "ALTER TABLE conversations ADD COLUMN response_format TEXT",
    "ALTER TABLE turns ADD COLUMN usage_estimated INTEGER NOT NULL DEFAULT 0",
)

_V9 = (
    """
    CREATE TABLE installations (
        enterprise_id TEXT NOT NULL,
        team_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        record TEXT NOT NULL,
        saved_at REAL NOT NULL,
        PRIMARY KEY (enterprise_id, team_id, user_id)
    )
    """,
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7, _V8, _V9)
LATEST_VERSION = len(MIGRATIONS)


def newer_file_message(path: str, found: int) -> str:
    """The operator's sentence for a database written by a newer threadline."""
    return (
        f"The database {path} has schema version {found}, but this threadline only knows "
        f"versions up to {LATEST_VERSION}: it was written by a newer threadline. "
        "Upgrade threadline, or point the storage path at another file."
    )


def unreadable_file_message(path: str, reason: str) -> str:
    """The operator's sentence for a path SQLite cannot open as a database."""
    return (
        f"threadline cannot open the database {path} ({reason}). Check that the directory "
        "exists and is writable and that the file is a threadline SQLite database."
    )


async def migrate(conn: aiosqlite.Connection, path: str, *, target: int = LATEST_VERSION) -> int:
    """Bring the file to ``target`` (default: the newest version); return the version found.

    ``conn`` must be in autocommit mode (``isolation_level=None``) so the explicit
    ``BEGIN IMMEDIATE`` makes the whole upgrade one transaction. Refuses a file
    from a newer threadline with ``ConfigError`` rather than guess at its tables.
    """
    try:
        await conn.execute("BEGIN IMMEDIATE")
        found = await _user_version(conn)
        if found > LATEST_VERSION:
            raise ConfigError(newer_file_message(path, found))
        for version in range(found, target):
            for statement in MIGRATIONS[version]:
                await conn.execute(statement)
        if target > found:
            # PRAGMA takes no bound parameters; ``target`` is an int, not user text.
            await conn.execute(f"PRAGMA user_version = {int(target)}")
        await conn.execute("COMMIT")
    except BaseException:
        await rollback(conn)
        raise
    return found


async def rollback(conn: aiosqlite.Connection) -> None:
    """Roll back the open transaction, if any (a failed BEGIN leaves none open)."""
    with contextlib.suppress(sqlite3.OperationalError):
        await conn.execute("ROLLBACK")


async def _user_version(conn: aiosqlite.Connection) -> int:
    rows = await conn.execute_fetchall("PRAGMA user_version")
    return int(next(iter(rows))[0])
