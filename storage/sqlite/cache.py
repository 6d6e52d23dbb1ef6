"""The history cache: a ``Window`` per conversation read lately, bounded in turns.

Reading and decoding the ~2,000 turns of a 100,000-token context takes ~20-30 ms
(bench/history.py), several times the 5 ms budget, so ``history`` is served from
the conversation's window and the file is read only when the window is missing
or too shallow. The store reports every write it makes (``added``, ``patched``,
...) and clears the cache when a write is interrupted or another connection
wrote; ``cache_turns`` bounds the decoded turns kept, least recently used first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from storage.rows import TURN_COLUMNS, Row, turn_from
from storage.sqlite.window import FIRST, MAX_ID, THE_END, Limit, Window, order

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from bot.domain import HistoryWindow, Turn

    Fetch = Callable[[str, Iterable[object]], Awaitable[list[Row]]]

# Thread order is (coalesce(reply_to, id), id), the key of the turns_in_thread_order
# index. The separate ``coalesce(...) <= ?`` term lets SQLite seek the index; the
# row-value comparison then applies the exact bound.
_BEFORE = (
    "conversation_id = ? AND coalesce(reply_to, id) <= ? AND (coalesce(reply_to, id), id) < (?, ?) "
    "AND id > ? AND status <> 'failed'"
)
_PAGE_NEWEST_FIRST = (
    f"SELECT {TURN_COLUMNS} FROM turns WHERE {_BEFORE} "
    "ORDER BY coalesce(reply_to, id) DESC, id DESC LIMIT ?"
)
_COUNT_BEFORE = f"SELECT count(*) FROM turns WHERE {_BEFORE}"
PAGE_SIZE = 512


class HistoryCache:
    """Windows of the conversations read lately; ``fetch`` reads the file when one is short.

    Callers hold the store's lock: the cache itself is not safe for concurrent use.
    """

    def __init__(self, fetch: Fetch, cache_turns: int) -> None:
        self._fetch = fetch
        self._cache_turns = cache_turns
        self._windows: OrderedDict[int, Window] = OrderedDict()

    async def read(self, conversation_id: int, limit: Limit) -> HistoryWindow:
        """The turns ``limit`` allows, from the window (loaded or deepened as needed)."""
        window = self._windows.get(conversation_id)
        taken = None if window is None else window.take(limit)
        if window is None or taken is None:
            window, taken = await self._load_and_take(conversation_id, limit)
            self._evict(keep=conversation_id)
        self._windows.move_to_end(conversation_id)
        result = window.result(limit, taken)
        window.trim(limit, taken)
        return result

    def clear(self) -> None:
        """Forget every window (after an interrupted write or another connection's)."""
        self._windows.clear()

    def drop(self, conversation_id: int) -> None:
        self._windows.pop(conversation_id, None)

    def added(self, conversation_id: int, turn: Turn) -> None:
        window = self._windows.get(conversation_id)
        if window is not None:
            window.add(turn)

    def answered(self, conversation_id: int, question_id: int) -> None:
        window = self._windows.get(conversation_id)
        if window is not None:
            window.answered(question_id)

    def patched(self, conversation_id: int, turn: Turn, status_changed: bool) -> None:
        window = self._windows.get(conversation_id)
        if window is not None and not window.patch(turn, status_changed):
            del self._windows[conversation_id]

    def forgotten(
        self, conversation_id: int, turn_id: int, reply_to: int | None, status: str
    ) -> None:
        window = self._windows.get(conversation_id)
        if window is not None:
            window.forget(turn_id, reply_to, status)

    async def _load_and_take(self, conversation_id: int, limit: Limit) -> tuple[Window, int]:
        """Load a window deep enough for this call, and take from it."""
        window = await self._load(conversation_id, limit)
        taken = window.take(limit)
        if taken is None:  # only with negative token counts: load the whole thread
            window = await self._load(conversation_id, Limit(MAX_ID, MAX_ID, THE_END))
            taken = window.take(limit)
        assert taken is not None, "a window holding every turn always answers"
        return window, taken

    async def _load(self, conversation_id: int, limit: Limit) -> Window:
        """Decode pages in reverse thread order until the turns at or before
        ``limit.through`` pass the budget or ``max_turns`` (or the thread ends)."""
        rows = await self._fetch(
            "SELECT context_start_turn_id FROM conversations WHERE id = ?", (conversation_id,)
        )
        start = int(rows[0][0])
        newest_first: list[Turn] = []
        below, spent, counted = THE_END, 0, 0
        while True:
            page = await self._fetch(
                _PAGE_NEWEST_FIRST, (conversation_id, below[0], *below, start, PAGE_SIZE)
            )
            for turn in map(turn_from, page):
                newest_first.append(turn)
                if order(turn) <= limit.through:
                    spent += turn.tokens
                    counted += 1
            if len(page) < PAGE_SIZE:
                window = Window(start, FIRST, 0, newest_first[::-1])
                break
            below = order(newest_first[-1])
            if spent > limit.budget or counted > limit.max_turns:
                older = await self._count_eligible(conversation_id, start, below)
                window = Window(start, below, older, newest_first[::-1])
                break
        self._windows[conversation_id] = window
        return window

    async def _count_eligible(
        self, conversation_id: int, start: int, below: tuple[int, int]
    ) -> int:
        rows = await self._fetch(_COUNT_BEFORE, (conversation_id, below[0], *below, start))
        return int(rows[0][0])

    def _evict(self, *, keep: int) -> None:
        """Drop least recently used windows while the cache holds too many turns."""
        total = sum(len(window.turns) for window in self._windows.values())
        for conversation_id in list(self._windows):
            if total <= self._cache_turns:
                break
            if conversation_id != keep:
                total -= len(self._windows.pop(conversation_id).turns)
