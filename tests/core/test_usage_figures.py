"""Real usage where the server reports it, estimates where not, and both in ``/usage``;
failed and stopped answers count too."""

from __future__ import annotations

import asyncio
import contextlib

from bot import wording
from bot.domain import TurnStatus
from bot.ports import ConversationStore
from bot.service import Outcome, ReplyService
from tests.core.test_service import KEY, RecordingSink, message
from tests.fakes.upstream import Answer, FakeUpstream, Fault


async def test_a_server_that_honours_stream_options_gives_exact_figures(
    service: ReplyService,
    upstream: FakeUpstream,
) -> None:
    upstream.answer = Answer(text="one two three", stream_options="honour")
    result = await service.handle(message("count"), RecordingSink())
    assert upstream.requests[0]["stream_options"] == {"include_usage": True}
    assert result.usage is not None
    assert (result.usage.total_tokens, result.usage.estimated) == (13, False)
    report = await service.usage(KEY, "u1")
    assert (report.mine, report.mine_estimated) == (13, 0)
    assert wording.usage_report(report, "server").startswith("Tokens used today (UTC): 13 by you,")


async def test_a_server_that_ignores_it_gives_estimates_and_says_so(
    service: ReplyService,
    upstream: FakeUpstream,
) -> None:
    upstream.answer = Answer(text="one two three", stream_options="ignore")
    result = await service.handle(message("count"), RecordingSink())
    assert result.usage is not None
    assert result.usage.estimated
    report = await service.usage(KEY, "u1")
    assert report.mine == report.mine_estimated > 0
    assert f"{report.mine:,} ({report.mine:,} estimated) by you" in wording.usage_report(
        report, "server"
    )


async def test_a_failed_answer_counts_what_it_streamed(
    service: ReplyService,
    store: ConversationStore,
    upstream: FakeUpstream,
) -> None:
    upstream.answer = Answer(text="one two three four five six")
    upstream.fail_next(Fault("error_event", code="api_error", after_chunks=3))
    result = await service.handle(message("count"), RecordingSink())
    assert result.outcome is Outcome.FAILED
    assert result.turn_id is not None
    stored = await store.get_turn(result.turn_id)
    assert stored is not None
    assert stored.status is TurnStatus.FAILED
    assert stored.usage is not None
    assert stored.usage.estimated
    assert (await service.usage(KEY, "u1")).mine == stored.usage.total_tokens > 0


async def test_a_stopped_answer_counts_what_it_streamed(
    service: ReplyService,
    store: ConversationStore,
    upstream: FakeUpstream,
) -> None:
    upstream.answer = Answer(tokens=400, tokens_per_s=100)
    sink = RecordingSink()
    task = asyncio.create_task(service.handle(message("long"), sink))
    while len(sink.appended) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    [answer] = [t for t in (await store.history(KEY, token_budget=10**6, max_turns=9)).turns][1:]
    assert answer.status is TurnStatus.INTERRUPTED
    assert answer.usage is not None
    assert answer.usage.estimated
    assert answer.usage.completion_tokens > 0
