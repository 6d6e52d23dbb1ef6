"""The reply service end to end: real store, real client, the fake upstream."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import pytest

from bot import wording
from bot.allowance import Allowance
from bot.domain import Attachment, ConversationSettings, Incoming, Role, ThreadKey, Turn, TurnStatus
from bot.ports import ConversationStore
from bot.service import Outcome, ReplyService
from bot.settings import ConversationLimits, QuotaSettings, UpstreamSettings
from bot.upstream import UpstreamClient
from tests.fakes.upstream import Answer, FakeUpstream, Fault
from tests.services import reply_service

KEY = ThreadKey("discord", "g1", "c1", "t1")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@dataclass
class RecordingSink:
    """A ReplySink that remembers what it was given (a fake of the port)."""

    appended: list[str] = field(default_factory=list)
    footer: str | None = None
    started_at: float | None = None
    finished_at: float | None = None

    async def start(self) -> None:
        self.started_at = asyncio.get_running_loop().time()

    async def append(self, text: str) -> None:
        self.appended.append(text)

    async def finish(self, footer: str = "") -> tuple[str, ...]:
        self.footer = footer
        self.finished_at = asyncio.get_running_loop().time()
        return ("m-1",)

    @property
    def text(self) -> str:
        return "".join(self.appended)


def message(text: str, *, key: ThreadKey = KEY, mid: str | None = None, **kw: object) -> Incoming:
    fields: dict[str, object] = {"author_id": "u1", "author_name": "Ada"} | kw
    return Incoming(key=key, message_id=mid or f"m-{text}", text=text, **fields)  # type: ignore[arg-type]


def make_service(
    store: ConversationStore,
    client: UpstreamClient,
    settings: UpstreamSettings,
    **limits: object,
) -> ReplyService:
    return reply_service(store, client, settings, limits=ConversationLimits(**limits))  # type: ignore[arg-type]


async def test_an_answer_is_streamed_and_both_turns_are_stored(
    service: ReplyService, store: ConversationStore, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(usage_chunk=True)
    sink = RecordingSink()
    result = await service.handle(message("How are you?"), sink)
    assert result.outcome is Outcome.ANSWERED
    assert sink.text == result.text == "You said: How are you?"
    assert len(sink.appended) > 1  # streamed, not in one piece
    window = await store.history(KEY, token_budget=10_000, max_turns=100)
    question, answer = window.turns
    assert (question.role, question.text, question.author_name) == (
        Role.USER,
        "How are you?",
        "Ada",
    )
    assert (answer.role, answer.status, answer.text) == (
        Role.ASSISTANT,
        TurnStatus.COMPLETE,
        sink.text,
    )
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 5  # the fake counts its five word tokens
    assert answer.reply_to == question.id
    assert answer.requester_id == "u1"
    found = await store.find_by_message("discord", "m-1")
    assert found is not None
    assert found.turn.id == answer.id  # the reply's message id leads back to the answer
    system = upstream.requests[-1]["messages"][0]
    assert system["role"] == "system"
    assert "2026-11-22" in system["content"]


async def test_the_same_event_twice_gets_one_answer(
    service: ReplyService, upstream: FakeUpstream
) -> None:
    first = await service.handle(message("once", mid="evt-1"), RecordingSink())
    again = RecordingSink()
    second = await service.handle(message("once", mid="evt-1"), again)
    assert (first.outcome, second.outcome) == (Outcome.ANSWERED, Outcome.DUPLICATE)
    assert again.started_at is None
    assert upstream.stats.requests == 1


async def test_the_thread_history_becomes_the_messages(
    service: ReplyService, upstream: FakeUpstream
) -> None:
    await service.handle(message("first"), RecordingSink())
    await service.handle(message("second"), RecordingSink())
    sent = upstream.requests[-1]["messages"]
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        ("user", "first"),
        ("assistant", "You said: first"),
        ("user", "second"),
    ]


async def test_two_messages_in_one_thread_are_answered_in_order(
    service: ReplyService, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(tokens=20, tokens_per_s=400)
    first, second = RecordingSink(), RecordingSink()
    await asyncio.gather(service.handle(message("A"), first), service.handle(message("B"), second))
    assert first.finished_at is not None
    assert second.started_at is not None
    assert first.finished_at <= second.started_at  # never interleaved
    answering_b = upstream.requests[-1]["messages"]
    assert [m["content"] for m in answering_b[1:]] == ["A", "tok " * 20, "B"]


async def test_ten_threads_stream_at_once(service: ReplyService, upstream: FakeUpstream) -> None:
    # Every stream waits in the fake until all ten are open: if the service held any
    # back, the barrier would break and fewer than ten would be seen at once.
    upstream.hold_streams(10)
    upstream.answer = Answer(tokens=1)
    threads = [ThreadKey("discord", "g1", f"c{i}", f"t{i}") for i in range(10)]
    results = await asyncio.gather(
        *(service.handle(message(f"q{i}", key=k), RecordingSink()) for i, k in enumerate(threads))
    )
    assert all(r.outcome is Outcome.ANSWERED for r in results)
    assert upstream.stats.max_concurrent_streams == 10


async def test_the_global_cap_bounds_answers_in_flight(
    store: ConversationStore,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    upstream: FakeUpstream,
) -> None:
    service = make_service(store, client, upstream_settings, max_concurrent_replies=3)
    upstream.answer = Answer(tokens=20, tokens_per_s=400)
    threads = [ThreadKey("slack", "T1", f"C{i}", f"{i}.0") for i in range(8)]
    await asyncio.gather(
        *(service.handle(message(f"q{i}", key=k), RecordingSink()) for i, k in enumerate(threads))
    )
    assert upstream.stats.max_concurrent_streams == 3
    assert upstream.stats.streams_completed == 8


async def test_an_upstream_error_is_told_and_the_partial_answer_kept(
    service: ReplyService, store: ConversationStore, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(text="one two three four five")
    upstream.fail_next(Fault("error_event", code="api_error", after_chunks=3, trace_id="tr-9"))
    sink = RecordingSink()
    result = await service.handle(message("go"), sink)
    assert result.outcome is Outcome.FAILED
    assert sink.text == "one two"
    assert sink.footer is not None
    assert sink.footer.endswith("(trace id: tr-9)")
    assert result.turn_id is not None
    stored = await store.get_turn(result.turn_id)
    assert stored is not None
    assert (stored.status, stored.text, stored.trace_id) == (TurnStatus.FAILED, "one two", "tr-9")


async def test_a_refused_request_is_told_with_its_trace_id(
    service: ReplyService, upstream: FakeUpstream
) -> None:
    upstream.fail_next(Fault("error", code="invalid_token"))
    sink = RecordingSink()
    result = await service.handle(message("go"), sink)
    assert result.outcome is Outcome.FAILED
    assert sink.footer is not None
    assert "invalid_token" in sink.footer
    assert "trace id: " in sink.footer


async def test_old_turns_that_do_not_fit_are_left_out_and_the_user_told_once(
    store: ConversationStore,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    upstream: FakeUpstream,
) -> None:
    service = make_service(store, client, upstream_settings, context_tokens=150)
    sinks = [RecordingSink() for _ in range(6)]
    for i, sink in enumerate(sinks):
        await service.handle(message(f"question number {i} " + "x" * 60), sink)
    sent = upstream.requests[-1]["messages"]
    assert 2 <= len(sent) < 12  # system + 11 turns would be everything
    assert sent[-1]["content"].startswith("question number 5")
    told = [s.footer for s in sinks if s.footer and s.footer.startswith("⚠️ Only the last")]
    assert len(told) == 1


async def test_images_go_to_a_vision_model_and_the_user_is_told(
    service: ReplyService, store: ConversationStore, upstream: FakeUpstream
) -> None:
    await store.save_settings(KEY, ConversationSettings(model="gpt-4"))
    sink = RecordingSink()
    picture = Attachment("cat.png", "image/png", PNG)
    result = await service.handle(message("what is this?", attachments=(picture,)), sink)
    assert result.model == "gpt-4o"
    assert sink.footer == wording.model_switched("gpt-4o", "gpt-4 cannot read images")
    sent = upstream.requests[-1]
    assert sent["model"] == "gpt-4o"
    parts = sent["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": "what is this?"}
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")


async def test_several_people_are_named(service: ReplyService, upstream: FakeUpstream) -> None:
    await service.handle(message("hi from Ada"), RecordingSink())
    await service.handle(message("hi from Bo", author_id="u2", author_name="Bo"), RecordingSink())
    sent = upstream.requests[-1]["messages"]
    assert "Several people" in sent[0]["content"]
    assert sent[1]["content"] == "Ada: hi from Ada"
    assert sent[-1]["content"] == "Bo: hi from Bo"


async def test_a_cancelled_answer_is_kept_as_interrupted(
    service: ReplyService, store: ConversationStore, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(tokens=1000, tokens_per_s=200)
    sink = RecordingSink()
    task = asyncio.create_task(service.handle(message("long one"), sink))
    while len(sink.appended) < 5:
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    window = await store.history(KEY, token_budget=100_000, max_turns=10)
    answer = window.turns[-1]
    assert answer.status is TurnStatus.INTERRUPTED
    assert answer.text.startswith("tok tok tok tok tok")
    assert sink.footer == wording.stopped_notice()


async def test_text_is_flushed_while_it_streams(
    service: ReplyService, store: ConversationStore, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(tokens=400, tokens_per_s=400)  # a second: reads 0.5 s apart
    task = asyncio.create_task(service.handle(message("stream"), RecordingSink()))
    seen = ""
    while not task.done():
        window = await store.history(KEY, token_budget=100_000, max_turns=10)
        latest = window.turns[-1] if window.turns else None
        if latest is not None and latest.status is TurnStatus.STREAMING and latest.text:
            seen = latest.text
            break
        await asyncio.sleep(0.02)
    await task
    assert seen.startswith("tok ")


async def test_recover_marks_answers_left_streaming_as_interrupted(
    service: ReplyService, store: ConversationStore
) -> None:
    await store.add_turn(KEY, Turn(role=Role.ASSISTANT, text="half", status=TurnStatus.STREAMING))
    recovered = await service.recover()
    assert [t.status for t in recovered] == [TurnStatus.INTERRUPTED]


class SlowFinishSink(RecordingSink):
    """A sink whose last edit is on its way until the test lets it land."""

    def __init__(self) -> None:
        super().__init__()
        self.finishing = asyncio.Event()
        self.land = asyncio.Event()

    async def finish(self, footer: str = "") -> tuple[str, ...]:
        self.finishing.set()
        await self.land.wait()
        return await super().finish(footer)


async def test_stopped_during_the_last_edit_the_whole_answer_is_kept(
    store: ConversationStore, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> None:
    service = make_service(store, client, upstream_settings)
    sink = SlowFinishSink()
    answering = asyncio.create_task(service.handle(message("hello there"), sink))
    await sink.finishing.wait()

    answering.cancel()  # shutdown or Stop, while the last edit is in flight
    await asyncio.sleep(0)
    sink.land.set()
    with pytest.raises(asyncio.CancelledError):
        await answering

    window = await store.history(KEY, token_budget=10_000, max_turns=100)
    answer = window.turns[-1]
    assert (answer.status, answer.text) == (TurnStatus.COMPLETE, "You said: hello there")
    assert answer.reply_message_ids == ("m-1",)


async def test_a_last_edit_that_never_lands_leaves_the_text_for_recovery(
    store: ConversationStore, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> None:
    service = reply_service(
        store,
        client,
        upstream_settings,
        flush_interval=3600,  # nothing is flushed while streaming
        finish_grace=0.01,
    )
    sink = SlowFinishSink()
    answering = asyncio.create_task(service.handle(message("hello there"), sink))
    await sink.finishing.wait()
    answering.cancel()
    with pytest.raises(asyncio.CancelledError):
        await answering

    # Still streaming, with all its text: the next start finishes the message.
    [recovered] = await store.interrupt_streaming()
    assert recovered.turn.text == "You said: hello there"


# -- questions a stop left unanswered (``unanswered``, ``reask``) -----------------------


async def turns_of(store: ConversationStore, key: ThreadKey = KEY) -> list[tuple[str, str]]:
    window = await store.history(key, token_budget=100_000, max_turns=100)
    return [(t.role.value, t.text) for t in window.turns]


async def test_a_question_left_waiting_by_a_stop_is_answered_by_reask(
    service: ReplyService, store: ConversationStore, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(tokens=5_000, tokens_per_s=50)  # the first answer holds the thread
    first = asyncio.create_task(service.handle(message("first"), RecordingSink()))
    second = asyncio.create_task(service.handle(message("second"), RecordingSink()))
    # Until the first answer streams and the second question waits its turn.
    while [role for role, _ in await turns_of(store)] != ["user", "assistant", "user"]:
        await asyncio.sleep(0.01)
    for task in (first, second):  # the process stops: one answer cut, one question waiting
        task.cancel()
    await asyncio.gather(first, second, return_exceptions=True)

    [waiting] = await service.unanswered()
    assert (waiting.key, waiting.turn.text) == (KEY, "second")
    upstream.answer = Answer()
    sink = RecordingSink()
    result = await service.reask(waiting, sink)
    assert result.outcome is Outcome.ANSWERED
    assert sink.text == "You said: second"
    assert await service.unanswered() == []
    assert [text for _, text in await turns_of(store)][2:] == ["second", "You said: second"]
    # Given again (a second start, a second look), it is not answered twice.
    again = RecordingSink()
    assert (await service.reask(waiting, again)).outcome is Outcome.DUPLICATE
    assert again.started_at is None
    assert len(await turns_of(store)) == 4


async def test_refused_and_told_questions_are_not_left_unanswered(
    store: ConversationStore, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> None:
    service = reply_service(
        store,
        client,
        upstream_settings,
        allowance=Allowance(store, QuotaSettings.off().model_copy(update={"user_per_minute": 1})),
    )
    assert (await service.handle(message("one"), RecordingSink())).outcome is Outcome.ANSWERED
    assert (await service.handle(message("two"), RecordingSink())).outcome is Outcome.REFUSED
    # No answer turn, but told why (a setting the API refuses): settled.
    await store.save_settings(KEY, ConversationSettings(temperature=5.0))
    told = await service.handle(message("three", author_id="u2"), RecordingSink())
    assert told.outcome is Outcome.FAILED
    assert await service.unanswered() == []


async def test_only_questions_within_the_window_are_asked_again(
    store: ConversationStore, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> None:
    now = time.time()
    for text, age in (("an hour and a bit ago", 3_700.0), ("a minute ago", 60.0)):
        await store.add_turn(
            KEY, Turn(Role.USER, text, status=TurnStatus.PENDING, created_at=now - age)
        )
    service = make_service(store, client, upstream_settings)
    assert [q.turn.text for q in await service.unanswered()] == ["a minute ago"]
    off = make_service(store, client, upstream_settings, reask_within_seconds=0)
    assert await off.unanswered() == []
