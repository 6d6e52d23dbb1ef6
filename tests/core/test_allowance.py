"""Cost and abuse controls through the reply service: real store, real client, fake upstream."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot import wording
from bot.allowance import Allowance, UsageReport
from bot.conversation import estimate_tokens
from bot.domain import Incoming, ThreadKey, TurnStatus
from bot.metrics import Metrics
from bot.models import ModelCatalog
from bot.ports import ConversationStore
from bot.service import Outcome, ReplyService
from bot.settings import ConversationLimits, QuotaSettings, Settings, UpstreamSettings
from bot.upstream import UpstreamClient
from storage import SqliteStore
from tests.core.test_service import RecordingSink, message
from tests.fakes.upstream import Answer, FakeUpstream
from tests.services import reply_service

KEY = ThreadKey("discord", "g1", "c1", "t1")
Limited = Callable[..., ReplyService]


class Now:
    """Wall-clock seconds that the test moves by hand, starting at the real time.

    Real, because the daily quotas sum the usage of turns the store stamped with
    the real clock; moved by hand, because buckets refill with time.
    """

    def __init__(self) -> None:
        self.value = time.time()

    def __call__(self) -> float:
        return self.value


class HeldSink(RecordingSink):
    """A sink whose answer cannot start until the test lets it: an answer held in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.go = asyncio.Event()
        self.waiting = asyncio.Event()

    async def start(self) -> None:
        self.waiting.set()
        await self.go.wait()
        await super().start()


@pytest.fixture
def now() -> Now:
    return Now()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def limited(
    store: ConversationStore,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    now: Now,
    metrics: Metrics,
) -> Limited:
    """``limited(**quota)``: a service under those controls (the rest off)."""

    def build(**quota: int) -> ReplyService:
        settings = QuotaSettings.off().model_copy(update=quota)
        allowance = Allowance(store, settings, now=now)
        return reply_service(store, client, upstream_settings, metrics=metrics, allowance=allowance)

    return build


def asked(text: str, *, user: str = "u1", key: ThreadKey = KEY) -> Incoming:
    return message(text, key=key, author_id=user, mid=f"{key.channel}-{key.thread}-{user}-{text}")


def refusals(metrics: Metrics, reason: str) -> float:
    value = metrics.registry.get_sample_value("threadline_refusals_total", {"reason": reason})
    return value or 0.0


async def test_a_person_over_the_rate_is_told_when_to_ask_again(
    limited: Limited,
    store: ConversationStore,
    upstream: FakeUpstream,
    now: Now,
    metrics: Metrics,
) -> None:
    service = limited(user_per_minute=2)
    for text in ("one", "two"):
        assert (await service.handle(asked(text), RecordingSink())).outcome is Outcome.ANSWERED

    sink = RecordingSink()
    result = await service.handle(asked("three"), sink)

    assert result.outcome is Outcome.REFUSED
    # Two a minute: the next token comes back 30 s after the bucket emptied.
    assert sink.footer == f"⏳ {wording.user_rate(2, 30.0)}"
    assert "Please ask again in 30 seconds." in sink.footer
    assert len(upstream.requests) == 2  # the refused message cost no answer
    assert refusals(metrics, "user_rate") == 1
    # Kept (nothing the user wrote is lost) but never context for a later answer.
    found = await store.find_by_message("discord", "c1-t1-u1-three")
    assert found is not None
    assert (found.turn.text, found.turn.status) == ("three", TurnStatus.FAILED)
    window = await store.history(KEY, token_budget=10_000, max_turns=100)
    assert "three" not in [turn.text for turn in window.turns]

    # The same event delivered again is a duplicate: no second refusal.
    again = RecordingSink()
    assert (await service.handle(asked("three"), again)).outcome is Outcome.DUPLICATE
    assert again.footer is None

    now.value += 30
    assert (await service.handle(asked("four"), RecordingSink())).outcome is Outcome.ANSWERED


async def test_someone_else_is_not_slowed_by_one_person_s_rate(
    limited: Limited, upstream: FakeUpstream
) -> None:
    service = limited(user_per_minute=1)
    assert (await service.handle(asked("a"), RecordingSink())).outcome is Outcome.ANSWERED
    assert (await service.handle(asked("b"), RecordingSink())).outcome is Outcome.REFUSED
    other = await service.handle(asked("b", user="u2"), RecordingSink())
    assert other.outcome is Outcome.ANSWERED


async def test_a_busy_channel_refuses_everyone_in_it_but_not_other_channels(
    limited: Limited, upstream: FakeUpstream, metrics: Metrics
) -> None:
    service = limited(user_per_minute=5, channel_per_minute=3)
    for user in ("u1", "u2", "u3"):
        assert (await service.handle(asked("hi", user=user), RecordingSink())).outcome is (
            Outcome.ANSWERED
        )
    sink = RecordingSink()
    assert (await service.handle(asked("hi", user="u4"), sink)).outcome is Outcome.REFUSED
    assert sink.footer == f"⏳ {wording.channel_rate(3, 20.0)}"
    assert refusals(metrics, "channel_rate") == 1

    elsewhere = ThreadKey("discord", "g1", "c2", "t9")
    result = await service.handle(asked("hi", user="u4", key=elsewhere), RecordingSink())
    assert result.outcome is Outcome.ANSWERED


async def test_rates_are_kept_in_the_database_across_a_restart(
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    upstream: FakeUpstream,
    tmp_path: Path,
    now: Now,
) -> None:
    async def ask(text: str) -> Outcome:
        async with await SqliteStore.open(tmp_path / "threadline.db") as store:
            service = ReplyService(
                store=store,
                client=client,
                catalog=ModelCatalog(upstream_settings),
                limits=ConversationLimits(),
                upstream=upstream_settings,
                allowance=Allowance(store, QuotaSettings(user_per_minute=1), now=now),
            )
            return (await service.handle(asked(text), RecordingSink())).outcome

    assert await ask("before") is Outcome.ANSWERED
    assert await ask("after a restart") is Outcome.REFUSED


async def test_a_spent_daily_quota_refuses_until_midnight_utc(
    limited: Limited, upstream: FakeUpstream, metrics: Metrics
) -> None:
    upstream.answer = Answer(text="one two three", usage_chunk=True)  # 10 + 3 tokens
    service = limited(user_daily_tokens=20)
    for text in ("first", "second"):  # 13 used < 20: the second is still answered
        assert (await service.handle(asked(text), RecordingSink())).outcome is Outcome.ANSWERED

    sink = RecordingSink()
    assert (await service.handle(asked("third"), sink)).outcome is Outcome.REFUSED
    assert sink.footer is not None
    assert sink.footer.startswith("⏳ You've used your 20 tokens for today.")
    assert re.search(r"renews at 00:00 UTC, in \d+ (h \d+ min|minutes?|seconds?)\.$", sink.footer)
    assert refusals(metrics, "user_quota") == 1
    assert (await service.handle(asked("x", user="u2"), RecordingSink())).outcome is (
        Outcome.ANSWERED
    )

    report = await service.usage(KEY, "u1")
    assert (report.mine, report.user_quota) == (26, 20)
    assert 0 < report.renews_in <= 24 * 3600
    assert wording.usage_report(report, "server").startswith(
        "Tokens used today (UTC): 26 of 20 by you, 39 in this channel, 39 in this server."
    )


async def test_a_workspace_quota_counts_everyone_in_it_and_not_direct_messages(
    limited: Limited, upstream: FakeUpstream, metrics: Metrics
) -> None:
    upstream.answer = Answer(text="one two three", usage_chunk=True)
    service = limited(workspace_daily_tokens=13)
    assert (await service.handle(asked("a", user="u1"), RecordingSink())).outcome is (
        Outcome.ANSWERED
    )
    sink = RecordingSink()
    assert (await service.handle(asked("b", user="u2"), sink)).outcome is Outcome.REFUSED
    assert sink.footer is not None
    assert sink.footer.startswith("⏳ This workspace has used its 13 tokens for today.")
    assert refusals(metrics, "workspace_quota") == 1

    direct = ThreadKey("discord", "", "dm-1", "dm-1")
    result = await service.handle(asked("c", user="u2", key=direct), RecordingSink())
    assert result.outcome is Outcome.ANSWERED


async def test_a_person_may_have_only_so_many_questions_in_flight(
    limited: Limited, upstream: FakeUpstream, metrics: Metrics
) -> None:
    service = limited(user_max_in_flight=2)
    held = [HeldSink(), HeldSink()]
    first = [
        asyncio.create_task(
            service.handle(asked("q", key=ThreadKey("discord", "g1", "c1", f"t{i}")), sink)
        )
        for i, sink in enumerate(held)
    ]
    for sink in held:
        await sink.waiting.wait()

    sink = RecordingSink()
    third = await service.handle(asked("q3", key=ThreadKey("discord", "g1", "c1", "t3")), sink)
    assert third.outcome is Outcome.REFUSED
    assert sink.footer == f"⏳ {wording.user_in_flight(2)}"
    admitted = HeldSink()
    elsewhere = ThreadKey("discord", "g1", "c1", "t-u2")
    other = asyncio.create_task(service.handle(asked("q", user="u2", key=elsewhere), admitted))
    await admitted.waiting.wait()  # u2 was admitted: their answer is starting

    for sink in held:
        sink.go.set()
    assert [(await task).outcome for task in first] == [Outcome.ANSWERED] * 2
    later = await service.handle(
        asked("q4", key=ThreadKey("discord", "g1", "c1", "t4")), RecordingSink()
    )
    assert later.outcome is Outcome.ANSWERED
    admitted.go.set()
    assert (await other).outcome is Outcome.ANSWERED
    assert refusals(metrics, "user_in_flight") == 1


async def test_everyone_together_may_have_only_so_many_questions_in_flight(
    limited: Limited, upstream: FakeUpstream
) -> None:
    service = limited(max_in_flight=1)
    held = HeldSink()
    first = asyncio.create_task(service.handle(asked("q", user="u1"), held))
    await held.waiting.wait()
    sink = RecordingSink()
    assert (await service.handle(asked("q", user="u2"), sink)).outcome is Outcome.REFUSED
    assert sink.footer == f"⏳ {wording.all_in_flight()}"
    held.go.set()
    assert (await first).outcome is Outcome.ANSWERED


async def test_an_answer_without_usage_counts_an_estimate(
    limited: Limited, store: ConversationStore, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(text="four words of text")  # the seed's stream: no usage chunk
    result = await limited().handle(asked("estimate me"), RecordingSink())
    assert result.turn_id is not None
    answer = await store.get_turn(result.turn_id)
    assert answer is not None
    assert answer.usage is not None
    assert answer.usage.completion_tokens == estimate_tokens("four words of text")
    assert answer.usage.prompt_tokens > estimate_tokens("estimate me")  # system prompt too


def test_the_controls_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTA__USER_PER_MINUTE", "4")
    monkeypatch.setenv("QUOTA__WORKSPACE_DAILY_TOKENS", "1000000")
    monkeypatch.setenv("QUOTA__MAX_IN_FLIGHT", "0")
    quota = Settings(_env_file=None).quota  # type: ignore[call-arg]
    assert (quota.user_per_minute, quota.workspace_daily_tokens, quota.max_in_flight) == (
        4,
        1_000_000,
        0,
    )
    assert quota.channel_per_minute == 30  # the default


@pytest.mark.parametrize(
    ("seconds", "phrase"),
    [
        (0.2, "in 1 second"),
        (29.01, "in 30 seconds"),
        (60, "in 1 minute"),
        (61, "in 2 minutes"),
        (3 * 3600 + 11 * 60 + 5, "in 3 h 12 min"),
    ],
)
def test_waits_are_rounded_up_into_words(seconds: float, phrase: str) -> None:
    assert wording.after(seconds) == phrase


def test_a_direct_message_s_usage_names_no_workspace() -> None:
    report = UsageReport(5, 5, None, user_quota=0, workspace_quota=0, renews_in=60)
    assert wording.usage_report(report, "server") == (
        "Tokens used today (UTC): 5 by you, 5 in this channel."
    )


async def test_regenerating_spends_the_asker_s_rate_and_keeps_the_answer_when_refused(
    limited: Limited, store: ConversationStore, upstream: FakeUpstream
) -> None:
    service = limited(user_per_minute=1)
    first = await service.handle(asked("once"), RecordingSink())
    assert first.turn_id is not None

    sink = RecordingSink()
    again = await service.regenerate(KEY, first.turn_id, sink)

    assert again.outcome is Outcome.REFUSED
    assert sink.footer == f"⏳ {wording.user_rate(1, 60.0)}"
    kept = await store.get_turn(first.turn_id)
    assert kept is not None
    assert kept.status is TurnStatus.COMPLETE  # still the thread's answer
