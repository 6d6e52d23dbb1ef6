"""bot/params.py through the reply service: inheritance, precedence and refusals."""

from __future__ import annotations

from bot import wording
from bot.conversation_settings import channel_key
from bot.domain import ConversationSettings, Params
from bot.params import parse_ask_prefix, parse_assignments
from bot.ports import ConversationStore
from bot.service import Outcome, ReplyService
from bot.settings import UpstreamSettings
from bot.upstream import UpstreamClient
from tests.core.test_service import KEY, RecordingSink, message
from tests.fakes.upstream import Answer, FakeUpstream


async def test_a_thread_inherits_its_channel_and_its_own_values_win(
    service: ReplyService,
    store: ConversationStore,
    upstream: FakeUpstream,
) -> None:
    channel = ConversationSettings(temperature=0.2, max_tokens=100, response_format="json_object")
    await store.save_settings(channel_key(KEY), channel)
    await store.save_settings(KEY, ConversationSettings(max_tokens=300))
    await service.handle(message("one"), RecordingSink())
    # The question's own values win over both.
    asked = message("two", params=Params(temperature=1.0, response_format="text"))
    await service.handle(asked, RecordingSink())
    first, second = upstream.requests
    assert (first["temperature"], first["max_tokens"]) == (0.2, 300)
    assert first["response_format"] == {"type": "json_object"}
    assert (second["temperature"], second["max_tokens"]) == (1.0, 300)
    assert second["response_format"] == {"type": "text"}


async def test_a_question_out_of_range_is_refused_and_not_stored(
    service: ReplyService,
    store: ConversationStore,
    upstream: FakeUpstream,
) -> None:
    sink = RecordingSink()
    result = await service.handle(message("hot", params=Params(temperature=2.5)), sink)
    assert result.outcome is Outcome.FAILED
    assert sink.footer == f"⚠️ {wording.temperature_out_of_range(2.5)}"
    assert upstream.requests == []
    assert await store.find_by_message(KEY.platform, "m-hot") is None


async def test_a_stored_max_tokens_too_big_for_a_new_model_gets_a_sentence(
    service: ReplyService,
    store: ConversationStore,
    upstream: FakeUpstream,
) -> None:
    """Set for gpt-4o (128k), then the channel moves to gpt-4 (8k): told, not sent."""
    await service.params.change(KEY, "thread", {"max_tokens": 100_000}, "Ada")
    await store.save_settings(KEY, ConversationSettings(model="gpt-4", max_tokens=100_000))
    sink = RecordingSink()
    assert (await service.handle(message("long"), sink)).outcome is Outcome.FAILED
    assert sink.footer is not None
    assert "max_tokens must be between 1 and" in sink.footer
    assert upstream.requests == []


async def test_show_names_where_each_value_comes_from(
    service: ReplyService,
    store: ConversationStore,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
) -> None:
    await service.params.change(channel_key(KEY), "channel", {"temperature": 0.5}, "Ada")
    await service.params.change(KEY, "thread", {"response_format": "json_object"}, "Ada")
    shown = await service.params.show(KEY, "thread", "slack")
    assert "temperature: 0.5 (from the channel)" in shown
    assert "response_format: json_object (set for this thread)" in shown
    assert "max_tokens: the model's default (the default)" in shown
    assert await service.params.clear(KEY, "thread", "Ada") == wording.params_cleared(
        "Ada", "thread"
    )
    assert (await store.settings(KEY)).response_format is None


def test_key_value_words() -> None:
    assert parse_assignments("temp=0.5 format=json max-tokens=9", allow_n=False) == {
        "temperature": 0.5,
        "response_format": "json_object",
        "max_tokens": 9,
    }
    assert parse_assignments("temperature=default", allow_n=False) == {"temperature": None}
    assert parse_ask_prefix("n=3 format=json why is the sky blue?") == (
        Params(response_format="json_object", n=3),
        "why is the sky blue?",
    )
    assert parse_ask_prefix("2+2=4?") == (Params(), "2+2=4?")
    assert parse_ask_prefix("n=2") == (Params(n=2), "")


async def test_a_json_answer_is_a_code_block_and_checked(
    service: ReplyService,
    store: ConversationStore,
    upstream: FakeUpstream,
) -> None:
    sink = RecordingSink()
    result = await service.handle(message("hi", params=Params(response_format="json_object")), sink)
    assert result.outcome is Outcome.ANSWERED
    assert sink.text == '```json\n{"you_said": "hi"}\n```'
    assert sink.footer == ""  # it parses: no notice
    assert result.text == '{"you_said": "hi"}'  # stored as the model wrote it


async def test_a_json_answer_that_does_not_parse_is_marked(
    service: ReplyService,
    upstream: FakeUpstream,
) -> None:
    """A server that ignores response_format, or max_tokens cutting the object short."""
    cut = RecordingSink()
    asked = message("hi", params=Params(response_format="json_object", max_tokens=1))
    await service.handle(asked, cut)
    assert cut.text == '```json\n{"you_said":\n```'
    assert cut.footer is not None
    assert cut.footer.startswith("⚠️ JSON was asked for, but this answer is not valid JSON (")
    upstream.answer = Answer(text="Sure! Here it is.")
    prose = RecordingSink()
    await service.handle(message("again", params=Params(response_format="json_object")), prose)
    assert prose.footer is not None
    assert "not valid JSON" in prose.footer


async def test_n_candidates_are_shown_together_and_kept_one_is_the_context(
    service: ReplyService,
    store: ConversationStore,
    upstream: FakeUpstream,
) -> None:
    sink = RecordingSink()
    result = await service.handle(message("colours", params=Params(n=3)), sink)
    assert result.outcome is Outcome.ANSWERED
    assert upstream.requests[0]["n"] == 3
    assert sink.text == (
        "**Candidate 1 of 3**\nYou said: colours\n\n"
        "**Candidate 2 of 3**\nYou said: colours (candidate 2)\n\n"
        "**Candidate 3 of 3**\nYou said: colours (candidate 3)"
    )
    first, second, third = result.candidates
    assert first == result.turn_id
    # Before any Keep: the first is the answer the next request carries.
    await service.handle(message("more"), RecordingSink())
    assert [m["content"] for m in upstream.requests[1]["messages"][1:]] == [
        "colours",
        "You said: colours",
        "more",
    ]
    assert await service.keep(KEY, second, 2) == wording.candidate_kept(2)
    await service.handle(message("again"), RecordingSink())
    assistant = [m["content"] for m in upstream.requests[2]["messages"] if m["role"] == "assistant"]
    assert assistant == ["You said: colours (candidate 2)", "You said: more"]
    stored = [await store.get_turn(i) for i in (first, second, third)]
    assert [t.status.value for t in stored if t is not None] == ["failed", "complete", "failed"]


async def test_n_json_candidates_are_fenced_and_checked_one_by_one(
    service: ReplyService,
    upstream: FakeUpstream,
) -> None:
    sink = RecordingSink()
    asked = message("hi", params=Params(n=2, response_format="json_object"))
    await service.handle(asked, sink)
    assert sink.text == (
        '**Candidate 1 of 2**\n```json\n{"you_said": "hi"}\n```\n\n'
        '**Candidate 2 of 2**\n```json\n{"you_said": "hi", "candidate": 2}\n```'
    )
    assert sink.footer == ""
