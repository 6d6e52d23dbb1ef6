"""``history`` on PostgreSQL: the newest eligible turns of a thread that fit a budget.

Thread order is (coalesce(reply_to, id), id), the key of ``turns_in_thread_order``;
pages are read newest first along that index until the budget or ``max_turns``
is spent, then the eligible turns left out are counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage.postgres.sql import Conn, numbered
from storage.rows import KEY_MATCH, TURN_COLUMNS, key_params, turn_from

if TYPE_CHECKING:
    from bot.domain import ThreadKey, Turn

from bot.domain import HistoryWindow

_MAX_ID = 2**63 - 1
_BEFORE = (
    "conversation_id = $1 AND coalesce(reply_to, id) <= $2 "
    "AND (coalesce(reply_to, id), id) < ($2, $3) AND id > $4 AND status <> 'failed'"
)
_PAGE = (
    f"SELECT {TURN_COLUMNS} FROM turns WHERE {_BEFORE} "
    "ORDER BY coalesce(reply_to, id) DESC, id DESC LIMIT $5"
)
_COUNT = f"SELECT count(*) FROM turns WHERE {_BEFORE}"
_CONVERSATION = numbered(f"SELECT id, context_start_turn_id FROM conversations WHERE {KEY_MATCH}")
_PAGE_SIZE = 512


async def read_history(
    conn: Conn,
    key: ThreadKey,
    budget: int,
    max_turns: int,
    through: int | None,
) -> HistoryWindow:
    """See ``ConversationStore.history``; ``conn`` is in one read transaction."""
    found = await conn.fetchrow(_CONVERSATION, *key_params(key))
    if found is None:
        return HistoryWindow((), 0)
    conversation_id, start = int(found[0]), int(found[1])
    # An exclusive upper bound in thread order: just past ``through`` (a question sorts
    # at (id, id), its answers at (id, answer id > id)), or past every turn.
    below = (_MAX_ID, _MAX_ID) if through is None else (through, through + 1)
    chosen: list[Turn] = []
    spent = 0
    page_size = min(max_turns + 1, _PAGE_SIZE)
    while True:
        page = await conn.fetch(_PAGE, conversation_id, *below, start, page_size)
        for row in page:
            turn = turn_from(tuple(row))
            if len(chosen) == max_turns or (chosen and spent + turn.tokens > budget):
                omitted = await conn.fetchval(_COUNT, conversation_id, *below, start)
                return HistoryWindow(tuple(reversed(chosen)), int(omitted))
            chosen.append(turn)
            spent += turn.tokens
            below = _order(turn)
        if len(page) < page_size:
            return HistoryWindow(tuple(reversed(chosen)), 0)
        page_size = _PAGE_SIZE


def _order(turn: Turn) -> tuple[int, int]:
    assert turn.id is not None
    return (turn.id if turn.reply_to is None else turn.reply_to, turn.id)
