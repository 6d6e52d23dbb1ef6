"""SQL text that SQLite and PostgreSQL run alike, with ``?`` marks.

Both engines keep the same tables and columns (storage/schema.py), so a statement
that reads the same on both is written once here; ``storage.postgres`` numbers
its marks (``numbered``). Statements that differ (upserts, locks, row values)
stay with their engine.
"""

from __future__ import annotations

from storage.rows import KEY_COLUMNS, KEY_MATCH, T_TURN_COLUMNS, TURN_COLUMNS

INSERT_TURN = (
    "INSERT INTO turns (conversation_id, platform, role, text, author_id, author_name, "
    "requester_id, reply_to, parts, platform_message_id, reply_ids, status, model, "
    "prompt_tokens, completion_tokens, trace_id, tokens, created_at, updated_at, delivery, "
    "usage_estimated, worker) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING RETURNING id"
)
GET_TURN = f"SELECT {TURN_COLUMNS} FROM turns WHERE id = ?"

# Turns with their thread's key: rows read by ``key_from`` and ``turn_from(row[4:])``.
WITH_KEY = (
    f"SELECT {KEY_COLUMNS}, {T_TURN_COLUMNS} FROM turns t "
    "JOIN conversations c ON c.id = t.conversation_id "
)
# Parameters: platform, message id, platform, message id.
FIND_BY_MESSAGE = (
    f"{WITH_KEY}WHERE t.platform = ? AND t.platform_message_id = ? "
    f"UNION ALL SELECT {KEY_COLUMNS}, {T_TURN_COLUMNS} FROM message_refs r "
    "JOIN turns t ON t.id = r.turn_id JOIN conversations c ON c.id = t.conversation_id "
    "WHERE r.platform = ? AND r.message_id = ? LIMIT 1"
)
UNANSWERED_QUESTIONS = (
    f"{WITH_KEY}WHERE t.status = 'pending' AND t.created_at >= ? "
    "AND t.id > c.context_start_turn_id ORDER BY t.id"
)
UNDELIVERED_ANSWERS = (
    f"{WITH_KEY}WHERE t.delivery = 'pending' AND t.status <> 'streaming' AND t.platform = ? "
    "ORDER BY t.id"
)
RECENT_CONVERSATIONS = (
    f"SELECT {KEY_COLUMNS}, t.platform_message_id FROM turns t "
    "JOIN conversations c ON c.id = t.conversation_id "
    "WHERE t.id IN (SELECT max(id) FROM turns WHERE platform = ? AND role = 'user' "
    "AND platform_message_id IS NOT NULL GROUP BY conversation_id) "
    "AND t.created_at >= ? ORDER BY t.id"
)
# The workers holding a streaming answer or a pending question.
OPEN_WORKERS = (
    "SELECT DISTINCT worker FROM turns WHERE status IN ('streaming', 'pending') ORDER BY worker"
)

HAS_CONVERSATION = (
    "SELECT EXISTS (SELECT 1 FROM turns WHERE conversation_id = "
    f"(SELECT id FROM conversations WHERE {KEY_MATCH}))"
)
SETTINGS = (
    "SELECT model, system_prompt, temperature, max_tokens, response_format "
    f"FROM conversations WHERE {KEY_MATCH}"
)
SAVE_SETTINGS = (
    "INSERT INTO conversations (platform, workspace, channel, thread, model, "
    "system_prompt, temperature, max_tokens, response_format, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (platform, workspace, channel, thread) DO UPDATE SET "
    "model = excluded.model, system_prompt = excluded.system_prompt, "
    "temperature = excluded.temperature, max_tokens = excluded.max_tokens, "
    "response_format = excluded.response_format RETURNING id"
)


def check_max_turns(max_turns: int) -> None:
    """``history`` refuses a ``max_turns`` below one on every store alike."""
    if max_turns < 1:
        raise ValueError(f"max_turns must be at least 1, not {max_turns}")
