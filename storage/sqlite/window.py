"""One conversation's newest decoded turns, kept in thread order and patched by writes.

Thread order is ``order(turn)``: (coalesce(reply_to, id), id), so an answer sorts
right after its question, as in the ``turns_in_thread_order`` index. A ``Window``
answers a ``history`` call when it holds enough turns to tell; otherwise the
store reloads it (``storage.sqlite.cache``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace

from bot.domain import HistoryWindow, Turn, TurnStatus

MAX_ID = 2**63 - 1  # the largest SQLite rowid: above every turn id
THE_END = (MAX_ID, MAX_ID)  # ordered after every turn
FIRST = (0, 0)  # ordered at or before every turn
# A window keeps this many decoded turns beyond what the last history call used
# (so a slightly larger budget needs no reload), and is trimmed past twice that.
WINDOW_SPARE = 64

_FAILED = TurnStatus.FAILED
_PENDING = TurnStatus.PENDING


@dataclass(frozen=True, slots=True)
class Limit:
    """One history call's limits; ``through`` is the last thread-order key it may use."""

    budget: int
    max_turns: int
    through: tuple[int, int]


@dataclass(slots=True)
class Window:
    """The newest decoded turns of one conversation, in thread order (see ``order``).

    Invariant: ``turns`` holds exactly the eligible turns (id after ``start``, the
    reset boundary; not failed) ordered at or after ``boundary``; ``older`` counts
    the eligible turns ordered before it.
    """

    start: int
    boundary: tuple[int, int]
    older: int
    turns: list[Turn]

    def end(self, limit: Limit) -> int:
        """Index just past the last turn at or before ``limit.through``."""
        if limit.through is THE_END:
            return len(self.turns)
        return bisect.bisect_right(self.turns, limit.through, key=order)

    def take(self, limit: Limit) -> int | None:
        """How many turns before ``end`` fit; ``None`` if the window is too shallow to tell."""
        end = self.end(limit)
        spent = taken = 0
        for index in range(end - 1, -1, -1):
            tokens = self.turns[index].tokens
            if taken == limit.max_turns or (taken and spent + tokens > limit.budget):
                return taken
            spent += tokens
            taken += 1
        return taken if self.older == 0 or taken == limit.max_turns else None

    def result(self, limit: Limit, taken: int) -> HistoryWindow:
        end = self.end(limit)
        return HistoryWindow(tuple(self.turns[end - taken : end]), self.older + end - taken)

    def trim(self, limit: Limit, taken: int) -> None:
        """Bound the window to what history used plus a spare margin."""
        spare = self.end(limit) - taken
        if spare > 2 * WINDOW_SPARE:
            cut = spare - WINDOW_SPARE
            del self.turns[:cut]
            self.older += cut
            self.boundary = order(self.turns[0])

    def add(self, turn: Turn) -> None:
        """Reflect a new turn: usually the newest, but an answer goes after its question."""
        if turn.status == _FAILED:
            return
        if order(turn) < self.boundary:
            self.older += 1
        else:
            bisect.insort(self.turns, turn, key=order)

    def patch(self, turn: Turn, status_changed: bool) -> bool:
        """Reflect an updated turn; False when the window can no longer be trusted."""
        key = order(turn)
        if _id(turn) <= self.start:
            return True
        if key < self.boundary:
            # An uncached older turn: only a status change can alter ``older``.
            return not status_changed
        index = bisect.bisect_left(self.turns, key, key=order)
        present = index < len(self.turns) and order(self.turns[index]) == key
        if turn.status == _FAILED:
            if present:
                del self.turns[index]
        elif present:
            self.turns[index] = turn
        else:
            self.turns.insert(index, turn)
        return True

    def answered(self, question_id: int) -> None:
        """Reflect the trigger that marks an answered ``pending`` question ``complete``.

        A question sorts at its own id; any other turn it may be is looked for by id.
        """
        key = (question_id, question_id)
        if question_id <= self.start or key < self.boundary:
            return  # not in the window, and ``older`` counts it either way
        index = bisect.bisect_left(self.turns, key, key=order)
        if not (index < len(self.turns) and self.turns[index].id == question_id):
            index = next((i for i, t in enumerate(self.turns) if t.id == question_id), -1)
        if index >= 0 and self.turns[index].status is _PENDING:
            self.turns[index] = replace(self.turns[index], status=TurnStatus.COMPLETE)

    def forget(self, turn_id: int, reply_to: int | None, status: str) -> None:
        """Reflect a deleted turn."""
        if turn_id <= self.start or status == _FAILED:
            return
        key = (turn_id if reply_to is None else reply_to, turn_id)
        if key < self.boundary:
            self.older -= 1
            return
        index = bisect.bisect_left(self.turns, key, key=order)
        if index < len(self.turns) and order(self.turns[index]) == key:
            del self.turns[index]


def order(turn: Turn) -> tuple[int, int]:
    """A turn's place in its thread: an answer sorts right after its question."""
    turn_id = _id(turn)
    return (turn_id if turn.reply_to is None else turn.reply_to, turn_id)


def _id(turn: Turn) -> int:
    """A stored turn's id (always set on turns read from the database)."""
    assert turn.id is not None
    return turn.id
