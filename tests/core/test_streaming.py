"""The streaming engine against a platform fake that enforces limits, on a fake clock."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import wording
from bot.ports import MessageRef
from bot.render import render_discord
from bot.streaming import DISCORD_BUDGET, UNLIMITED, BudgetPlan, EditScheduler, Rate, StreamedReply
from tests.fakes.clock import FakeClock
from tests.fakes.target import FakePlatform, FakeTarget

MARKER = wording.IN_PROGRESS_MARKER


@pytest.fixture
async def scheduler(clock: FakeClock) -> AsyncIterator[EditScheduler]:
    async with EditScheduler(DISCORD_BUDGET, clock) as scheduler:
        yield scheduler


@pytest.fixture
def platform(clock: FakeClock) -> FakePlatform:
    return FakePlatform(clock, channel_rate=Rate(5, 5.0), overall_rate=Rate(50, 1.0))


async def stream_text(
    reply: StreamedReply, clock: FakeClock, tokens: list[str], per_token: float = 0.025
) -> None:
    await reply.start()
    for token in tokens:
        await clock.sleep(per_token)
        await reply.append(token)


def words(count: int, word: str = "word") -> list[str]:
    return [f"{word}{i} " for i in range(count)]


async def test_placeholder_then_words_then_exact_final_text(
    scheduler: EditScheduler, platform: FakePlatform, clock: FakeClock
) -> None:
    reply = StreamedReply(platform.target("c1"), scheduler, render_discord)
    tokens = words(40)
    await stream_text(reply, clock, tokens)
    ids = await reply.finish()
    message = platform.messages[ids[0]]
    assert message.history[0] == wording.THINKING_PLACEHOLDER
    assert message.text == "".join(tokens)
    middle = message.history[1:-1]
    assert middle
    assert all(text.endswith(MARKER) for text in middle)  # in progress, visibly
    assert platform.typing_calls == 1
    assert platform.rate_limited == 0


async def test_an_empty_answer_says_so(
    scheduler: EditScheduler, platform: FakePlatform, clock: FakeClock
) -> None:
    reply = StreamedReply(platform.target("c1"), scheduler, render_discord)
    await reply.start()
    ids = await reply.finish()
    assert platform.messages[ids[0]].text == wording.EMPTY_ANSWER


async def test_an_error_keeps_the_partial_text_and_ends_with_the_sentence(
    scheduler: EditScheduler, platform: FakePlatform, clock: FakeClock
) -> None:
    reply = StreamedReply(platform.target("c1"), scheduler, render_discord)
    await stream_text(reply, clock, ["Half ", "an ", "answer"])
    ids = await reply.finish("⚠️ The model service failed (trace id: t-1)")
    assert platform.messages[ids[0]].text == (
        "Half an answer\n\n⚠️ The model service failed (trace id: t-1)"
    )


async def test_edits_coalesce_to_what_the_budget_allows(
    scheduler: EditScheduler, platform: FakePlatform, clock: FakeClock
) -> None:
    reply = StreamedReply(platform.target("c1"), scheduler, render_discord)
    tokens = words(400)  # 10 s at 40 tokens/s, two messages long
    await stream_text(reply, clock, tokens)
    ids = await reply.finish()
    assert "".join(platform.messages[i].text for i in ids) == "".join(tokens)
    # 5 requests per 5 s in one channel over ~10 s: about 10-16, never 400.
    requests = sum(len(platform.messages[i].history) for i in ids)
    assert 8 <= requests <= 20
    assert platform.rate_limited == 0


async def test_a_long_answer_continues_in_new_messages_without_losing_a_character(
    scheduler: EditScheduler, platform: FakePlatform, clock: FakeClock
) -> None:
    reply = StreamedReply(platform.target("c1"), scheduler, render_discord)
    paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 8
    code = "```python\n" + "".join(f"print({i})\n" for i in range(300)) + "```\n"
    text = f"{paragraph}\n\n{code}\n{paragraph}"
    tokens = [text[i : i + 7] for i in range(0, len(text), 7)]
    await stream_text(reply, clock, tokens, per_token=0.005)
    ids = await reply.finish()
    texts = [platform.messages[i].text for i in ids]
    assert len(texts) >= 3
    assert all(len(t) <= 2000 for t in texts)
    assert all(t.count("```") % 2 == 0 for t in texts)  # every message's fences balance
    # Code splits at a line end: the message closes with "```", the next reopens it.
    rebuilt = "".join(texts).replace("```" + "```python\n", "")
    assert rebuilt == text
    assert platform.too_long == 0
    assert not any(t.endswith(MARKER) for t in texts)


async def test_many_replies_share_one_budget_without_a_429(
    scheduler: EditScheduler, platform: FakePlatform, clock: FakeClock
) -> None:
    replies = [
        StreamedReply(platform.target(f"c{i % 5}"), scheduler, render_discord) for i in range(20)
    ]

    async def one(reply: StreamedReply, n: int) -> tuple[str, ...]:
        await stream_text(reply, clock, words(60, f"r{n}w"))
        return await reply.finish()

    results = await asyncio.gather(*(one(r, n) for n, r in enumerate(replies)))
    assert platform.rate_limited == 0
    for n, ids in enumerate(results):
        assert platform.messages[ids[0]].text == "".join(words(60, f"r{n}w"))
        assert len(platform.messages[ids[0]].history) >= 3  # everyone got intermediate edits


async def test_a_429_pauses_the_bucket_and_nothing_is_lost(
    scheduler: EditScheduler, platform: FakePlatform, clock: FakeClock
) -> None:
    platform.inject_429 = [2.0, 2.0]
    reply = StreamedReply(platform.target("c1"), scheduler, render_discord)
    tokens = words(30)
    await stream_text(reply, clock, tokens)
    ids = await reply.finish()
    assert platform.messages[ids[0]].text == "".join(tokens)
    assert scheduler.stats.rate_limited == 2


async def test_final_edits_go_before_intermediate_ones(clock: FakeClock) -> None:
    platform = FakePlatform(clock, overall_rate=Rate(2, 1.0))
    async with EditScheduler(BudgetPlan(overall=Rate(2, 1.0)), clock) as scheduler:
        replies = [
            StreamedReply(platform.target(f"c{i}"), scheduler, render_discord) for i in range(7)
        ]
        for reply in replies:
            await reply.start()
            await reply.append("first words ")
        while sum("first words" in m.text for m in platform.messages.values()) < 7:
            await clock.sleep(0.1)  # every reply is posted and shows its first words
        *busy, quick = replies
        for reply in busy:
            await reply.append("more text that wants an intermediate edit")
        await quick.append("and done")
        started = clock.monotonic()
        ids = await quick.finish()
        quick_lag = clock.monotonic() - started
        assert platform.messages[ids[0]].text == "first words and done"
        await asyncio.gather(*(reply.finish() for reply in busy))
    # Six intermediate edits were waiting at 2 requests/s; the final one did not queue
    # behind them (that would take 3 s).
    assert quick_lag <= 1.1
    assert platform.rate_limited == 0


async def test_a_write_after_the_scheduler_stops_is_not_lost_silently(
    platform: FakePlatform, clock: FakeClock
) -> None:
    async with EditScheduler(UNLIMITED, clock) as scheduler:
        reply = StreamedReply(platform.target("c1"), scheduler, render_discord)
        await stream_text(reply, clock, ["a ", "b"])
        ids = await reply.finish()
    assert platform.messages[ids[0]].text == "a b"


@settings(max_examples=40, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab c\n#é字😀")), min_size=1, max_size=1500).filter(
        lambda t: t.strip()
    ),
    limit=st.integers(min_value=100, max_value=600),
    step=st.integers(min_value=1, max_value=40),
)
def test_streamed_messages_hold_exactly_the_answer(text: str, limit: int, step: int) -> None:
    """Fence repair is covered by the splitting properties; here: nothing lost or doubled."""

    async def run() -> list[str]:
        clock = FakeClock()
        platform = FakePlatform(clock, max_chars=limit)
        async with EditScheduler(UNLIMITED, clock) as scheduler:
            reply = StreamedReply(platform.target("c"), scheduler, lambda s: s)
            tokens = [text[i : i + step] for i in range(0, len(text), step)]
            await stream_text(reply, clock, tokens, per_token=0.01)
            ids = await reply.finish()
        assert platform.too_long == 0
        return [platform.messages[i].text for i in ids]

    texts = asyncio.run(run())
    assert all(len(t) <= limit for t in texts)
    assert "".join(texts) == text


@dataclass
class TimedTarget(FakeTarget):
    """Notes when each text was shown, on the fake clock."""

    shown: list[tuple[float, str]] = field(default_factory=list)

    async def post(self, text: str) -> MessageRef:
        ref = await super().post(text)
        self.shown.append((self.platform.clock.monotonic(), text))
        return ref

    async def edit(self, ref: MessageRef, text: str) -> None:
        await super().edit(ref, text)
        self.shown.append((self.platform.clock.monotonic(), text))


async def test_under_a_burst_the_budget_goes_to_first_words_not_placeholders(
    clock: FakeClock,
) -> None:
    """Four mentions at once, each opening a thread, in a window of eight requests:
    threads and first words fit; placeholders and typing would push words a window on."""
    overall = Rate(8, 1.0)
    platform = FakePlatform(clock, overall_rate=overall)
    async with EditScheduler(BudgetPlan(overall=overall), clock) as scheduler:
        started = clock.monotonic()
        targets = [TimedTarget(platform, f"thread{n}") for n in range(4)]
        # The mentions arrive together: each handler opens its thread, then answers.
        open_thread = lambda: platform.request("channel", None)  # noqa: E731
        await asyncio.gather(*(scheduler.spend(None, open_thread) for _ in targets))
        replies = [StreamedReply(target, scheduler, render_discord) for target in targets]
        for reply in replies:
            await reply.start()
        for _ in range(5):  # the scheduler looks (and may send "thinking…") before words come
            await asyncio.sleep(0)
        for reply in replies:
            await reply.append("first words")
        for reply in replies:
            await reply.finish()
    for target in targets:
        first_words = next(at for at, text in target.shown if "first words" in text)
        assert first_words - started < overall.per_seconds  # none waited for the next window
    assert platform.rate_limited == 0


async def test_no_placeholder_while_edits_are_out_of_budget_so_the_post_carries_the_words(
    clock: FakeClock,
) -> None:
    """Slack's posts and edits have budgets of their own. With the edit budget spent,
    a placeholder would hold the words back until it refills; the post carries them."""
    plan = BudgetPlan(channel_posts=Rate(1, 1.0), overall_edits=Rate(1, 60.0))
    platform = FakePlatform(clock)
    async with EditScheduler(plan, clock) as scheduler:
        spender = StreamedReply(platform.target("c1"), scheduler, render_discord)
        await stream_text(spender, clock, ["spends ", "the ", "edits"])
        await spender.finish()
        started = clock.monotonic()
        target = TimedTarget(platform, "c2")
        reply = StreamedReply(target, scheduler, render_discord)
        await reply.start()
        for _ in range(5):  # the scheduler looks before the words come
            await asyncio.sleep(0)
        await reply.append("the answer")
        await reply.finish()
    [(shown_at, text)] = target.shown
    assert text == "the answer"
    assert shown_at - started < 1.0


async def test_answers_ending_together_get_their_finals_without_waiting_a_window(
    scheduler: EditScheduler, platform: FakePlatform, clock: FakeClock
) -> None:
    """50 answers in 50 channels end at once (issue 19): progress kept one request of the
    bot's 50/s for every final, so no final waits for the window to free."""
    replies = [
        StreamedReply(platform.target(f"c{n}"), scheduler, render_discord) for n in range(50)
    ]
    for reply in replies:
        await reply.start()
    for step in range(60):
        await clock.sleep(0.05)
        for reply in replies:
            await reply.append(f"w{step} ")
    ended = clock.monotonic()
    await asyncio.gather(*(reply.finish() for reply in replies))
    assert clock.monotonic() == ended  # no final waited (virtual time: the clock's own)
    assert platform.rate_limited == 0
    assert all(
        platform.channel_texts(f"c{n}") == ["".join(f"w{s} " for s in range(60))] for n in range(50)
    )


async def test_progress_on_a_long_window_is_spread_at_its_sustained_rate(
    clock: FakeClock,
) -> None:
    """Slack's chat.update (50 a minute for the workspace): progress goes at most once per
    60 / (50 - open answers) s, never in one burst, and every final still has room."""
    platform = FakePlatform(clock, overall_rate=Rate(50, 60.0))
    sent: list[tuple[float, str]] = []

    class Timed(FakeTarget):
        async def edit(self, ref: MessageRef, text: str) -> None:
            await super().edit(ref, text)
            sent.append((clock.monotonic(), text))

    plan = BudgetPlan(overall_edits=Rate(50, 60.0))
    async with EditScheduler(plan, clock) as scheduler:
        replies = [
            StreamedReply(Timed(platform, f"c{n}"), scheduler, render_discord) for n in range(5)
        ]
        for reply in replies:
            await reply.start()
        for step in range(200):  # 20 s of streaming
            await clock.sleep(0.1)
            for reply in replies:
                await reply.append(f"w{step} ")
        await asyncio.gather(*(reply.finish() for reply in replies))
    progress = [at for at, text in sent if text.endswith(MARKER)]
    assert progress
    gaps = [later - earlier for earlier, later in itertools.pairwise(progress)]
    assert min(gaps) >= 60.0 / (50 - 5)  # one share of what the reserve leaves, each
    assert len(progress) + 5 <= 50  # the finals' reserve was never spent on progress
    assert platform.rate_limited == 0


async def test_a_library_request_goes_while_every_answer_owes_its_final(
    scheduler: EditScheduler, platform: FakePlatform, clock: FakeClock
) -> None:
    """More answers open than the bot's 50/s: the finals' reserve is the whole window,
    yet a request that must go (a button, a library call) still gets one of it."""
    replies = [
        StreamedReply(platform.target(f"c{n}"), scheduler, render_discord) for n in range(60)
    ]
    for reply in replies:
        await reply.start()
        await reply.append("words ")

    async def library_call() -> str:
        return "sent"

    assert await scheduler.count(library_call) == "sent"
    assert float("inf") not in clock.sleeps  # it never waited for a window that cannot free
    await asyncio.gather(*(reply.finish() for reply in replies))


async def test_a_request_behind_requests_in_flight_goes_when_they_complete(
    clock: FakeClock,
) -> None:
    """The window's room comes back when a request in flight completes: a request
    waiting for it waits for that, not for ever (a sleep of ``inf`` on a real clock)."""
    async with EditScheduler(BudgetPlan(channel=Rate(2, 5.0)), clock) as scheduler:
        release = asyncio.Event()
        started: list[float] = []
        ended: list[float] = []

        async def slow() -> None:
            started.append(clock.monotonic())
            await release.wait()
            ended.append(clock.monotonic())

        first = [asyncio.create_task(scheduler.spend("c1", slow)) for _ in range(2)]
        for _ in range(20):
            await asyncio.sleep(0)
        third = asyncio.create_task(scheduler.spend("c1", slow))
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(started) == 2  # no room while both are in flight
        release.set()
        await asyncio.gather(*first, third)
    assert started[2] >= ended[0] + 5.0  # when the first in flight came back, plus the window
    assert clock.monotonic() < float("inf")
