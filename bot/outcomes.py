"""What a question came to (``ReplyResult``), and the sentences that end one early.

Every accepted message gets an answer or a sentence in its thread: the ones said
instead of an answer (a refused message, a database that would not take it) are
started and finished here, so each path says them the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from bot.domain import ThreadKey, Usage
from bot.errors import StorageUnavailable, ThreadlineError
from bot.ports import ReplySink

__all__ = ["Outcome", "ReplyResult", "say", "unsaved"]

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    ANSWERED = "answered"
    DUPLICATE = "duplicate"
    REFUSED = "refused"  # by a cost or abuse control (bot/allowance.py)
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class ReplyResult:
    outcome: Outcome
    text: str = ""
    error: ThreadlineError | None = None
    turn_id: int | None = None
    model: str | None = None
    usage: Usage | None = None
    message_ids: tuple[str, ...] = ()
    # With n > 1: every candidate's turn id, the first (the answer) first (bot/candidates.py).
    candidates: tuple[int, ...] = ()


async def say(sink: ReplySink, sentence: str) -> None:
    """A reply that is one sentence instead of an answer."""
    await sink.start()
    await sink.finish(sentence)


async def unsaved(key: ThreadKey, error: StorageUnavailable, sink: ReplySink) -> ReplyResult:
    """The database would not take the write: the thread is told so."""
    log.warning("could not store a message in %s: database %s", key, error.reason)
    await say(sink, f"⚠️ {error.user_message}")
    return ReplyResult(Outcome.FAILED, error=error)
