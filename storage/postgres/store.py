"""``ConversationStore`` on PostgreSQL (asyncpg), shared by any number of workers.

Lifetime: ``PostgresStore.open(url)`` connects a small pool, migrates the database
(``storage.postgres.migrate``, once however many workers start) and returns the
store, an async context manager that closes the pool.

Every method is one statement or one transaction, so workers sharing the database
see each other's writes at once: unlike ``SqliteStore`` there is no history cache
(another worker may have written since). Rate buckets are taken under advisory
locks on their scopes, so two workers never spend one token twice.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import asyncpg

from bot import wording
from bot.domain import (
    Bucket,
    ConversationSettings,
    HistoryWindow,
    StoredTurn,
    ThreadKey,
    Turn,
    TurnUpdate,
    Usage,
    shortfalls,
)
from bot.errors import ConfigError
from bot.lifetime import ClosesOnExit
from bot.redact import url_without_password
from storage.postgres.history import read_history
from storage.postgres.installations import Installations
from storage.postgres.migrate import migrate
from storage.postgres.probe import reason
from storage.postgres.sql import Conn, numbered, unavailable_as_storage_error
from storage.rows import (
    KEY_COLUMNS,
    KEY_MATCH,
    T_TURN_COLUMNS,
    TURN_COLUMNS,
    key_from,
    key_params,
    turn_from,
    turn_values,
    update_assignments,
)
from storage.statements import (
    FIND_BY_MESSAGE,
    GET_TURN,
    HAS_CONVERSATION,
    INSERT_TURN,
    OPEN_WORKERS,
    RECENT_CONVERSATIONS,
    SAVE_SETTINGS,
    SETTINGS,
    UNANSWERED_QUESTIONS,
    UNDELIVERED_ANSWERS,
    check_max_turns,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

__all__ = ["PostgresStore"]

_INSERT_TURN = numbered(INSERT_TURN)
_KEY_MATCH = numbered(KEY_MATCH)
_FIND_BY_MESSAGE = numbered(FIND_BY_MESSAGE)
_HAS_CONVERSATION = numbered(HAS_CONVERSATION)
_SETTINGS = numbered(SETTINGS)
_SAVE_SETTINGS = numbered(SAVE_SETTINGS)
_UNANSWERED_QUESTIONS = numbered(UNANSWERED_QUESTIONS)
_RECENT_CONVERSATIONS = numbered(RECENT_CONVERSATIONS)
_UNDELIVERED_ANSWERS = numbered(UNDELIVERED_ANSWERS)
# Full buckets read the same as missing rows; sweep them out every this many takes.
PRUNE_BUCKETS_EVERY = 1_000


class PostgresStore(Installations, ClosesOnExit):
    """Thread history in PostgreSQL; implements ``bot.ports.ConversationStore``."""

    def __init__(self, pool: asyncpg.Pool[Any], worker: str = "") -> None:
        """Use ``PostgresStore.open``; this only wires an open, migrated pool."""
        self.worker = worker  # recorded on every turn this store adds
        self._pool = pool
        self._takes = 0

    @classmethod
    async def open(cls, url: str, *, max_connections: int = 10, worker: str = "") -> PostgresStore:
        """Connect to ``url`` and migrate; ``ConfigError`` (password left out) if unusable."""
        shown = url_without_password(url)
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=max_connections, timeout=10, command_timeout=60
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise ConfigError(wording.postgres_unreachable(shown, reason(error))) from None
        try:
            async with pool.acquire() as conn:
                await migrate(conn, shown)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, worker)

    async def close(self) -> None:
        """Close the pool (idempotent); every write has committed already."""
        await self._pool.close()

    async def _fetch(self, sql: str, *params: object) -> list[asyncpg.Record]:
        with unavailable_as_storage_error():
            return list(await self._pool.fetch(sql, *params))

    # -- writes ---------------------------------------------------------------

    async def add_turn(self, key: ThreadKey, turn: Turn) -> Turn | None:
        """Store ``turn``; ``None`` if (platform, platform_message_id) is already stored."""
        with unavailable_as_storage_error():
            async with self._pool.acquire() as conn:
                conversation_id = await _conversation_id(conn, key)
                turn_id = await conn.fetchval(
                    _INSERT_TURN, *turn_values(conversation_id, key.platform, turn), self.worker
                )
        return None if turn_id is None else replace(turn, id=turn_id)

    async def update_turn(self, turn_id: int, update: TurnUpdate) -> None:
        """Apply the non-``None`` fields of ``update``; a missing turn is left alone."""
        assignments, params = update_assignments(update)
        await self._fetch(
            numbered(f"UPDATE turns SET {assignments} WHERE id = ?"), *params, turn_id
        )

    async def update_texts(self, texts: Mapping[int, str]) -> None:
        """Every streaming answer's text so far, in one statement; finished ones untouched."""
        if texts:
            await self._fetch(
                "UPDATE turns SET text = v.text, updated_at = $3 "
                "FROM unnest($1::bigint[], $2::text[]) AS v(id, text) "
                "WHERE turns.id = v.id AND turns.status = 'streaming'",
                list(texts),
                list(texts.values()),
                time.time(),
            )

    async def edit_message(self, platform: str, message_id: str, text: str, tokens: int) -> bool:
        """A platform message was edited: store its new text and size. True if found."""
        rows = await self._fetch(
            "UPDATE turns SET text = $1, tokens = $2, updated_at = $3 "
            "WHERE platform = $4 AND platform_message_id = $5 RETURNING id",
            text,
            tokens,
            time.time(),
            platform,
            message_id,
        )
        return bool(rows)

    async def delete_message(self, platform: str, message_id: str) -> bool:
        """A platform message was deleted: forget its turn (and reply refs). True if found."""
        rows = await self._fetch(
            "DELETE FROM turns WHERE platform = $1 AND platform_message_id = $2 RETURNING id",
            platform,
            message_id,
        )
        return bool(rows)

    async def save_settings(self, key: ThreadKey, settings: ConversationSettings) -> None:
        """Replace the conversation's overrides (``None`` fields go back to the defaults)."""
        await self._fetch(
            _SAVE_SETTINGS,
            *key_params(key),
            settings.model,
            settings.system_prompt,
            settings.temperature,
            settings.max_tokens,
            settings.response_format,
            time.time(),
        )

    async def reset(self, key: ThreadKey) -> None:
        """Start later history after the current newest turn; settings stay."""
        await self._fetch(
            "UPDATE conversations SET context_start_turn_id = GREATEST(context_start_turn_id, "
            "(SELECT coalesce(max(id), 0) FROM turns WHERE conversation_id = conversations.id)) "
            f"WHERE {_KEY_MATCH}",
            *key_params(key),
        )

    async def interrupt_streaming(
        self, workers: Collection[str] | None = None, *, platforms: Collection[str] | None = None
    ) -> list[StoredTurn]:
        """Mark the ``streaming`` turns of ``workers`` on ``platforms`` (None: every one)
        ``interrupted`` (recovery at start or after a worker died) and return them."""
        rows = await self._fetch(
            # One statement: the rows it returns are exactly the rows it changed.
            "WITH cut AS (UPDATE turns SET status = 'interrupted', delivery = 'pending', "
            "updated_at = $1 WHERE status = 'streaming' "
            "AND ($2::text[] IS NULL OR worker = ANY($2::text[])) "
            "AND ($3::text[] IS NULL OR platform = ANY($3::text[])) "
            f"RETURNING {TURN_COLUMNS}, conversation_id) "
            f"SELECT {KEY_COLUMNS}, {T_TURN_COLUMNS} FROM cut t "
            "JOIN conversations c ON c.id = t.conversation_id ORDER BY t.id",
            time.time(),
            None if workers is None else list(workers),
            None if platforms is None else list(platforms),
        )
        return [_stored(row) for row in rows]

    async def open_workers(self) -> list[str]:
        """The workers holding a ``streaming`` answer or a ``pending`` question."""
        rows = await self._fetch(OPEN_WORKERS)
        return [str(row[0]) for row in rows]

    async def adopt_questions(
        self,
        workers: Collection[str],
        *,
        since: float,
        platforms: Collection[str] | None = None,
    ) -> list[StoredTurn]:
        """The ``pending`` questions of ``workers`` (on ``platforms``; None: every one)
        become this store's worker's, in one statement; those asked since ``since`` and
        after their thread's reset are returned."""
        rows = await self._fetch(
            "WITH moved AS (UPDATE turns SET worker = $1 WHERE status = 'pending' "
            "AND worker = ANY($2::text[]) AND ($4::text[] IS NULL OR platform = ANY($4::text[])) "
            f"RETURNING {TURN_COLUMNS}, conversation_id) "
            f"SELECT {KEY_COLUMNS}, {T_TURN_COLUMNS} FROM moved t "
            "JOIN conversations c ON c.id = t.conversation_id "
            "WHERE t.created_at >= $3 AND t.id > c.context_start_turn_id ORDER BY t.id",
            self.worker,
            list(workers),
            since,
            None if platforms is None else list(platforms),
        )
        return [_stored(row) for row in rows]

    async def take_tokens(self, buckets: Sequence[Bucket], *, now: float) -> tuple[float, ...]:
        """One token from every bucket, or none; one transaction holding each scope's lock."""
        if not buckets:
            return ()
        scopes = [bucket.scope for bucket in buckets]
        with unavailable_as_storage_error():
            async with self._pool.acquire() as conn, conn.transaction():
                # Sorted, so two workers taking overlapping scopes never deadlock.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(s, 0)) "
                    "FROM unnest($1::text[]) AS s ORDER BY s",
                    sorted(set(scopes)),
                )
                rows = await conn.fetch(
                    "SELECT scope, level, updated_at FROM rate_buckets WHERE scope = ANY($1)",
                    scopes,
                )
                stored = {row[0]: (row[1], row[2]) for row in rows}
                levels = [bucket.level(stored.get(bucket.scope), now) for bucket in buckets]
                waits = shortfalls(buckets, levels)
                if not any(waits):
                    await conn.executemany(
                        "INSERT INTO rate_buckets (scope, level, updated_at) VALUES ($1, $2, $3) "
                        "ON CONFLICT (scope) DO UPDATE SET level = excluded.level, "
                        "updated_at = excluded.updated_at",
                        [(s, lv - 1.0, now) for s, lv in zip(scopes, levels, strict=True)],
                    )
                self._takes += 1
                if self._takes % PRUNE_BUCKETS_EVERY == 0:
                    slowest = max(bucket.capacity / bucket.per_second for bucket in buckets)
                    await conn.execute(
                        "DELETE FROM rate_buckets WHERE updated_at < $1", now - slowest
                    )
        return waits

    # -- reads ----------------------------------------------------------------

    async def get_turn(self, turn_id: int) -> Turn | None:
        rows = await self._fetch(numbered(GET_TURN), turn_id)
        return turn_from(tuple(rows[0])) if rows else None

    async def history(
        self, key: ThreadKey, *, token_budget: int, max_turns: int, through: int | None = None
    ) -> HistoryWindow:
        """The newest eligible turns that fit ``token_budget`` (see ``ConversationStore``)."""
        check_max_turns(max_turns)
        with unavailable_as_storage_error():
            async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
                return await read_history(conn, key, token_budget, max_turns, through)

    async def find_by_message(self, platform: str, message_id: str) -> StoredTurn | None:
        """The turn a platform message belongs to: the message itself or one of its replies."""
        rows = await self._fetch(_FIND_BY_MESSAGE, platform, message_id, platform, message_id)
        return _stored(rows[0]) if rows else None

    async def has_conversation(self, key: ThreadKey) -> bool:
        """True once the thread has at least one stored turn (of any status)."""
        rows = await self._fetch(_HAS_CONVERSATION, *key_params(key))
        return bool(rows[0][0])

    async def settings(self, key: ThreadKey) -> ConversationSettings:
        rows = await self._fetch(_SETTINGS, *key_params(key))
        return ConversationSettings(*rows[0]) if rows else ConversationSettings()

    async def unanswered_questions(self, *, since: float) -> list[StoredTurn]:
        """``pending`` questions asked since ``since``, after their thread's reset, oldest first."""
        rows = await self._fetch(_UNANSWERED_QUESTIONS, since)
        return [_stored(row) for row in rows]

    async def recent_conversations(
        self, platform: str, *, since: float
    ) -> list[tuple[ThreadKey, str]]:
        """Each conversation on ``platform`` whose newest question was stored at or after
        ``since``, with that question's message id; oldest first."""
        rows = await self._fetch(_RECENT_CONVERSATIONS, platform, since)
        return [(key_from(tuple(row)), str(row[4])) for row in rows]

    async def undelivered_answers(self, platform: str) -> list[StoredTurn]:
        """Answers on ``platform`` whose final text is still owed, oldest first."""
        rows = await self._fetch(_UNDELIVERED_ANSWERS, platform)
        return [_stored(row) for row in rows]

    async def usage_since(
        self,
        since: float,
        *,
        platform: str,
        workspace: str | None = None,
        channel: str | None = None,
        requester_id: str | None = None,
    ) -> Usage:
        """Summed usage of turns created at or after ``since`` (epoch seconds) that match."""
        rows = await self._fetch(
            "SELECT coalesce(sum(t.prompt_tokens), 0), coalesce(sum(t.completion_tokens), 0), "
            "coalesce(sum(CASE WHEN t.usage_estimated <> 0 THEN "
            "coalesce(t.prompt_tokens, 0) + coalesce(t.completion_tokens, 0) END), 0) "
            "FROM turns t JOIN conversations c ON c.id = t.conversation_id "
            "WHERE t.platform = $1 AND t.created_at >= $2 "
            "AND (t.prompt_tokens IS NOT NULL OR t.completion_tokens IS NOT NULL) "
            "AND ($3::text IS NULL OR c.workspace = $3) AND ($4::text IS NULL OR c.channel = $4) "
            "AND ($5::text IS NULL OR t.requester_id = $5)",
            platform,
            since,
            workspace,
            channel,
            requester_id,
        )
        return Usage(int(rows[0][0]), int(rows[0][1]), int(rows[0][2]))


async def _conversation_id(conn: Conn, key: ThreadKey) -> int:
    """The conversation's id, created if new (one statement, safe between workers)."""
    found = await conn.fetchval(
        "WITH made AS (INSERT INTO conversations (platform, workspace, channel, thread, "
        "created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id) "
        f"SELECT id FROM made UNION ALL SELECT id FROM conversations WHERE {_KEY_MATCH} LIMIT 1",
        *key_params(key),
        time.time(),
    )
    if found is None:  # another worker's insert committed after this statement began
        found = await conn.fetchval(
            f"SELECT id FROM conversations WHERE {_KEY_MATCH}", *key_params(key)
        )
    assert found is not None, "inserted or already there"
    return int(found)


def _stored(row: asyncpg.Record) -> StoredTurn:
    values = tuple(row)
    return StoredTurn(key_from(values), turn_from(values[4:]))
