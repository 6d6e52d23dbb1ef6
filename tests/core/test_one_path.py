"""handle, regenerate and reask share one path: the thread's turn is taken when each
is called, so a thread's answers come in the order they were asked for."""

from __future__ import annotations

import asyncio

from bot.ports import ConversationStore
from bot.service import Outcome, ReplyService
from tests.core.test_service import KEY, RecordingSink, message
from tests.fakes.upstream import Answer, FakeUpstream


async def test_a_regenerate_clicked_before_a_new_message_is_answered_first(
    service: ReplyService, store: ConversationStore, upstream: FakeUpstream
) -> None:
    first = await service.handle(message("A"), RecordingSink())
    assert first.outcome is Outcome.ANSWERED
    assert first.turn_id is not None
    upstream.answer = Answer(tokens=20, tokens_per_s=400)
    again, new = RecordingSink(), RecordingSink()
    # Clicked, then a message arrives in the same moment: call order is answer order.
    regenerated, answered = await asyncio.gather(
        service.regenerate(KEY, first.turn_id, again), service.handle(message("B"), new)
    )
    assert (regenerated.outcome, answered.outcome) == (Outcome.ANSWERED, Outcome.ANSWERED)
    assert again.finished_at is not None
    assert new.started_at is not None
    assert again.finished_at <= new.started_at  # never interleaved, never overtaken
    # B's context holds the new answer to A, not the one set aside.
    answering_b = upstream.requests[-1]["messages"]
    assert [m["content"] for m in answering_b[1:]] == ["A", "tok " * 20, "B"]
