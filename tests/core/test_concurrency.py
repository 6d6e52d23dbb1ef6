"""How many answers stream at once (issue 19): the upstream decides, not a fixed 32."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from bot.concurrency import ReplySlots
from bot.domain import Incoming, ThreadKey
from bot.service import Outcome, ReplyService
from bot.settings import ConversationLimits, Settings
from bot.upstream import UpstreamClient
from tests.fakes.clock import FakeClock
from tests.fakes.upstream import Answer, FakeUpstream, Fault


def question(n: int) -> Incoming:
    key = ThreadKey("discord", "100000000000000001", f"20000000000000{n:04d}", "")
    return Incoming(
        key=key, message_id=f"30000000000000{n:04d}", author_id="u", author_name="Ann", text=f"q{n}"
    )


def test_the_adaptive_cap_grows_per_answer_started_and_halves_on_a_429() -> None:
    clock = FakeClock()
    slots = ReplySlots(0, clock)
    assert slots.adaptive
    assert slots.limit == ReplySlots.START
    for _ in range(ReplySlots.START):
        slots.succeeded()  # slow start: a round of answers doubles it
    assert slots.limit == 2 * ReplySlots.START
    slots.throttled()
    assert slots.limit == ReplySlots.START
    slots.throttled()  # the same 429 window, met by another answer: no second halving
    assert slots.limit == ReplySlots.START
    for _ in range(2 * ReplySlots.START):
        slots.succeeded()  # after a 429: one more per round (of 32), not one per answer
    assert slots.limit == ReplySlots.START + 1


def test_a_fixed_cap_stays_fixed() -> None:
    slots = ReplySlots(3, FakeClock())
    slots.succeeded()
    slots.throttled()
    assert (slots.adaptive, slots.limit) == (False, 3)


def test_a_negative_cap_is_refused_with_what_to_set() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Settings(_env_file=None, limits=ConversationLimits(max_concurrent_replies=-1))
    assert ConversationLimits().max_concurrent_replies == 0  # the default: adaptive


async def test_by_default_a_burst_beyond_32_streams_at_once(
    service: ReplyService,
    upstream: FakeUpstream,
) -> None:
    """0 (the default) never hangs, and 40 people asking at once are answered at once
    when the upstream takes them (a fixed 32 made 8 of them wait a whole answer)."""
    upstream.answer = Answer(tokens=40, tokens_per_s=100)
    results = await asyncio.gather(*(service.handle(question(n), _Sink()) for n in range(40)))
    assert all(result.outcome is Outcome.ANSWERED for result in results)
    assert upstream.stats.max_concurrent_streams == 40


async def test_the_upstreams_429s_lower_the_cap(
    service: ReplyService,
    client: UpstreamClient,
    upstream: FakeUpstream,
) -> None:
    client.rate_limited.append(service.slots.throttled)  # as bot/cli.py wires it
    upstream.fail_next(Fault("error", code="too_many_requests", retry_after=1))
    result = await service.handle(question(1), _Sink())
    assert result.outcome is Outcome.ANSWERED  # retried after the 429
    assert service.slots.limit == ReplySlots.START // 2


class _Sink:
    async def start(self) -> None:
        return None

    async def append(self, text: str) -> None:
        return None

    async def finish(self, footer: str = "") -> tuple[str, ...]:
        return ()

    async def attach(self, name: str, data: bytes, mime: str) -> None:
        return None
