"""``n`` candidates: several answers from one request, shown together; a person keeps one.

The seed: ``n`` is "how many candidate responses to generate at once". A stream
with ``n > 1`` interleaves the choices by ``index``; the first candidate streams
live and the others are gathered from their own choices and shown after it, each
under its own heading, in the same reply. Every candidate is stored as an answer
to the question: the first ``complete`` (the thread's answer unless another is
kept), the others ``failed`` (kept in the database, never context). Keeping one
(the platforms' Keep buttons) swaps the statuses, so the next request carries
exactly the kept candidate as the assistant turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot import wording
from bot.conversation import estimate_tokens
from bot.domain import Role, ThreadKey, Turn, TurnStatus, TurnUpdate
from bot.json_answers import JsonSink, json_problem
from bot.ports import ConversationStore, ReplySink

__all__ = ["Gathered", "keep", "show_others", "store_others"]

# Reading a whole thread's history to find a question's candidates: far more than
# any thread holds between a question and its Keep click.
_KEEP_WINDOW_TURNS = 10_000


@dataclass
class Gathered:
    """The text of choices 1 … n-1 while choice 0 streams."""

    n: int
    texts: dict[int, list[str]] = field(default_factory=dict)

    def add(self, index: int, text: str) -> None:
        if 0 < index < self.n:
            self.texts.setdefault(index, []).append(text)

    def others(self) -> list[str]:
        """Candidates 2 … n in order ('' for one that said nothing)."""
        return ["".join(self.texts.get(index, ())) for index in range(1, self.n)]


async def show_others(gathered: Gathered, plain: ReplySink, sink: ReplySink) -> list[str]:
    """Candidates 2 … n after the first, each under its heading; the notices they need.

    ``plain`` is the reply itself (headings go there); ``sink`` is what the answer's
    text goes through: the same, or the JSON fence around it (each candidate fenced
    and checked on its own)."""
    notices = []
    for number, text in enumerate(gathered.others(), start=2):
        if isinstance(sink, JsonSink):
            await sink.close_fence()
        await plain.append("\n\n" + wording.candidate_heading(number, gathered.n))
        await sink.append(text)
        if isinstance(sink, JsonSink) and (problem := json_problem(text)) is not None:
            notices.append(wording.candidate_notice(number, problem))
    return notices


async def store_others(
    store: ConversationStore, key: ThreadKey, answer: Turn, texts: list[str]
) -> tuple[int, ...]:
    """Store candidates 2 … n next to ``answer`` (the first), set aside; their ids."""
    ids = []
    for text in texts:
        stored = await store.add_turn(
            key,
            Turn(
                role=Role.ASSISTANT,
                text=text,
                author_name=answer.author_name,
                requester_id=answer.requester_id,
                reply_to=answer.reply_to,
                status=TurnStatus.FAILED,
                model=answer.model,
                tokens=estimate_tokens(text),
            ),
        )
        assert stored is not None  # assistant turns are never duplicates
        assert stored.id is not None
        ids.append(stored.id)
    return tuple(ids)


async def keep(store: ConversationStore, key: ThreadKey, turn_id: int, number: int) -> str:
    """Make candidate ``turn_id`` the answer to its question; set the others aside."""
    chosen = await store.get_turn(turn_id)
    if chosen is None or chosen.role is not Role.ASSISTANT or chosen.reply_to is None:
        return wording.nothing_to_keep()
    window = await store.history(key, token_budget=10**12, max_turns=_KEEP_WINDOW_TURNS)
    for turn in window.turns:
        sibling = turn.role is Role.ASSISTANT and turn.reply_to == chosen.reply_to
        if sibling and turn.id is not None and turn.id != turn_id:
            await store.update_turn(turn.id, TurnUpdate(status=TurnStatus.FAILED))
    if chosen.status is not TurnStatus.COMPLETE:
        await store.update_turn(turn_id, TurnUpdate(status=TurnStatus.COMPLETE))
    return wording.candidate_kept(number)
