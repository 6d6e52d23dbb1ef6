"""Conversations on SQLite: their settings, ``/reset``, history and usage sums."""

from __future__ import annotations

import time

from bot.domain import ConversationSettings, HistoryWindow, ThreadKey, Usage
from storage.rows import KEY_MATCH, key_params
from storage.sqlite.connection import Connection
from storage.sqlite.window import THE_END, Limit
from storage.statements import HAS_CONVERSATION, SAVE_SETTINGS, SETTINGS, check_max_turns


class Conversations(Connection):
    """``save_settings``, ``settings``, ``reset``, ``has_conversation``, ``history``
    and ``usage_since``."""

    async def save_settings(self, key: ThreadKey, settings: ConversationSettings) -> None:
        """Replace the conversation's overrides (``None`` fields go back to the defaults)."""
        async with self._writing():
            rows = await self._fetch(
                SAVE_SETTINGS,
                (
                    *key_params(key),
                    settings.model,
                    settings.system_prompt,
                    settings.temperature,
                    settings.max_tokens,
                    settings.response_format,
                    time.time(),
                ),
            )
            self._remember(key, rows[0][0])

    async def settings(self, key: ThreadKey) -> ConversationSettings:
        async with self._lock:
            rows = await self._fetch(SETTINGS, key_params(key))
        if not rows:
            return ConversationSettings()
        return ConversationSettings(*rows[0])

    async def reset(self, key: ThreadKey) -> None:
        """Start later history after the current newest turn; settings stay.

        ``max`` keeps an earlier boundary when the turns after it were deleted.
        """
        async with self._writing():
            rows = await self._fetch(
                "UPDATE conversations SET context_start_turn_id = max(context_start_turn_id, "
                "(SELECT coalesce(max(id), 0) FROM turns WHERE conversation_id = conversations.id)) "
                f"WHERE {KEY_MATCH} RETURNING id",
                key_params(key),
            )
            for (conversation_id,) in rows:
                self._cache.drop(conversation_id)

    async def has_conversation(self, key: ThreadKey) -> bool:
        """True once the thread has at least one stored turn (of any status)."""
        async with self._lock:
            rows = await self._fetch(HAS_CONVERSATION, key_params(key))
        return bool(rows[0][0])

    async def history(
        self, key: ThreadKey, *, token_budget: int, max_turns: int, through: int | None = None
    ) -> HistoryWindow:
        """The newest eligible turns that fit ``token_budget`` (see ``ConversationStore``).

        Served from the conversation's cached window; the database is read only
        when the window is missing, too shallow, or another connection wrote.
        """
        check_max_turns(max_turns)
        limit = Limit(token_budget, max_turns, THE_END if through is None else (through, through))
        async with self._lock:
            await self._drop_caches_if_changed_elsewhere()
            conversation_id = await self._conversation_id(key, create=False)
            if conversation_id is None:
                return HistoryWindow((), 0)
            return await self._cache.read(conversation_id, limit)

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
        # The usage condition repeats the partial index's WHERE so SQLite can use it.
        where = [
            "t.platform = ?",
            "t.created_at >= ?",
            "(t.prompt_tokens IS NOT NULL OR t.completion_tokens IS NOT NULL)",
        ]
        params: list[object] = [platform, since]
        for column, value in (
            ("c.workspace", workspace),
            ("c.channel", channel),
            ("t.requester_id", requester_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        async with self._lock:
            rows = await self._fetch(
                "SELECT coalesce(sum(t.prompt_tokens), 0), coalesce(sum(t.completion_tokens), 0), "
                "coalesce(sum(CASE WHEN t.usage_estimated THEN "
                "coalesce(t.prompt_tokens, 0) + coalesce(t.completion_tokens, 0) END), 0) "
                "FROM turns t JOIN conversations c ON c.id = t.conversation_id "
                f"WHERE {' AND '.join(where)}",
                params,
            )
        return Usage(rows[0][0], rows[0][1], rows[0][2])
