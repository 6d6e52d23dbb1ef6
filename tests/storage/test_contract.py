"""The ``ConversationStore`` contract, run on every implementation (see conftest.py)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from bot.domain import (
    Bucket,
    ConversationSettings,
    Delivery,
    FilePart,
    ImagePart,
    Role,
    StoredTurn,
    TextPart,
    ThreadKey,
    Turn,
    TurnStatus,
    TurnUpdate,
    Usage,
)

if TYPE_CHECKING:
    from bot.domain import HistoryWindow
    from bot.ports import ConversationStore

KEY = ThreadKey("discord", "guild-1", "chan-1", "thread-1")
OTHER = ThreadKey("discord", "guild-1", "chan-1", "thread-2")
SLACK = ThreadKey("slack", "T1", "C1", "1700000000.000100")


def turn(
    text: str = "hello",
    *,
    tokens: int = 1,
    message_id: str | None = None,
    role: Role = Role.USER,
    **fields: object,
) -> Turn:
    return Turn(
        role=role,
        text=text,
        tokens=tokens,
        platform_message_id=message_id,
        **fields,  # type: ignore[arg-type]
    )


async def add(store: ConversationStore, key: ThreadKey, new: Turn) -> Turn:
    stored = await store.add_turn(key, new)
    assert stored is not None
    return stored


async def add_many(
    store: ConversationStore, key: ThreadKey, count: int, *, tokens: int = 1
) -> list[Turn]:
    return [await add(store, key, turn(f"t{i}", tokens=tokens)) for i in range(count)]


def texts(window: HistoryWindow) -> list[str]:
    return [t.text for t in window.turns]


async def window(
    store: ConversationStore, key: ThreadKey = KEY, budget: int = 1000, max_turns: int = 100
) -> HistoryWindow:
    return await store.history(key, token_budget=budget, max_turns=max_turns)


# -- add_turn / get_turn ------------------------------------------------------


async def test_add_turn_assigns_increasing_ids_and_round_trips_every_field(
    store: ConversationStore,
) -> None:
    full = Turn(
        role=Role.ASSISTANT,
        text="a picture of a cat",
        author_id="bot",
        author_name="threadline",
        requester_id="u1",
        reply_to=1,
        parts=(TextPart("look"), ImagePart("data:image/png;base64,AAAA"), FilePart("https://x/f")),
        platform_message_id="m-1",
        reply_message_ids=("r-1", "r-2"),
        status=TurnStatus.STREAMING,
        model="gpt-4o",
        usage=Usage(prompt_tokens=11, completion_tokens=7),
        trace_id="trace-9",
        tokens=42,
        created_at=1_700_000_000.25,
        updated_at=1_700_000_001.5,
    )
    first = await add(store, KEY, turn("before"))
    stored = await add(store, KEY, full)
    assert first.id is not None
    assert stored.id is not None
    assert stored.id > first.id
    assert stored == replace(full, id=stored.id)
    assert await store.get_turn(stored.id) == stored


async def test_usage_none_and_zero_stay_distinct(store: ConversationStore) -> None:
    none = await add(store, KEY, turn("a"))
    zero = await add(store, KEY, turn("b", usage=Usage(0, 0)))
    assert none.id is not None
    assert zero.id is not None
    assert (await store.get_turn(none.id)) == none
    stored_zero = await store.get_turn(zero.id)
    assert stored_zero is not None
    assert stored_zero.usage == Usage(0, 0)


async def test_get_turn_of_unknown_id_is_none(store: ConversationStore) -> None:
    assert await store.get_turn(12345) is None


async def test_add_turn_is_idempotent_on_platform_message_id(store: ConversationStore) -> None:
    await add(store, KEY, turn("first", message_id="m-1"))
    assert await store.add_turn(KEY, turn("again", message_id="m-1")) is None
    # The same id delivered in another thread of the same platform is still the same message.
    assert await store.add_turn(OTHER, turn("elsewhere", message_id="m-1")) is None
    assert texts(await window(store)) == ["first"]
    assert not await store.has_conversation(OTHER)


async def test_same_message_id_on_another_platform_is_another_message(
    store: ConversationStore,
) -> None:
    await add(store, KEY, turn("discord", message_id="m-1"))
    assert await store.add_turn(SLACK, turn("slack", message_id="m-1")) is not None


async def test_turns_without_message_id_are_never_duplicates(store: ConversationStore) -> None:
    for _ in range(3):
        await add(store, KEY, turn("same", role=Role.ASSISTANT))
    assert texts(await window(store)) == ["same"] * 3


async def test_duplicate_with_reply_ids_stores_nothing(store: ConversationStore) -> None:
    await add(store, KEY, turn("first", message_id="m-1"))
    again = turn("again", message_id="m-1", reply_message_ids=("r-9",))
    assert await store.add_turn(KEY, again) is None
    assert await store.find_by_message("discord", "r-9") is None


# -- history --------------------------------------------------------------------


async def test_history_of_unknown_thread_is_empty(store: ConversationStore) -> None:
    result = await window(store)
    assert result.turns == ()
    assert result.omitted == 0


async def test_history_is_oldest_first_and_per_thread(store: ConversationStore) -> None:
    await add(store, KEY, turn("a"))
    await add(store, OTHER, turn("x"))
    await add(store, KEY, turn("b"))
    await add(store, KEY, turn("c"))
    assert texts(await window(store)) == ["a", "b", "c"]
    assert texts(await window(store, OTHER)) == ["x"]


async def test_history_keeps_newest_turns_that_fit_the_budget(store: ConversationStore) -> None:
    for text, tokens in [("a", 5), ("b", 4), ("c", 3), ("d", 2)]:
        await add(store, KEY, turn(text, tokens=tokens))
    result = await window(store, budget=9)
    assert texts(result) == ["b", "c", "d"]  # 4 + 3 + 2 = 9: an exact fit is included
    assert result.omitted == 1
    result = await window(store, budget=8)
    assert texts(result) == ["c", "d"]
    assert result.omitted == 2


async def test_history_stops_at_first_turn_that_does_not_fit(store: ConversationStore) -> None:
    """The window is a suffix: a small old turn is not pulled in past a big one."""
    for text, tokens in [("tiny", 1), ("huge", 100), ("new", 1)]:
        await add(store, KEY, turn(text, tokens=tokens))
    result = await window(store, budget=10)
    assert texts(result) == ["new"]
    assert result.omitted == 2


async def test_newest_turn_is_included_even_alone_over_budget(store: ConversationStore) -> None:
    await add(store, KEY, turn("old", tokens=1))
    await add(store, KEY, turn("giant", tokens=500))
    result = await window(store, budget=100)
    assert texts(result) == ["giant"]
    assert result.omitted == 1
    assert texts(await window(store, budget=0)) == ["giant"]


async def test_history_honours_max_turns(store: ConversationStore) -> None:
    await add_many(store, KEY, 5)
    result = await window(store, max_turns=2)
    assert texts(result) == ["t3", "t4"]
    assert result.omitted == 3
    result = await window(store, max_turns=1, budget=0)
    assert texts(result) == ["t4"]


async def test_history_rejects_max_turns_below_one(store: ConversationStore) -> None:
    await add(store, KEY, turn())
    with pytest.raises(ValueError, match="max_turns"):
        await window(store, max_turns=0)


async def test_zero_token_turns_all_fit(store: ConversationStore) -> None:
    await add_many(store, KEY, 4, tokens=0)
    result = await window(store, budget=0)
    assert len(result.turns) == 4
    assert result.omitted == 0


async def test_failed_turns_are_left_out_and_not_counted(store: ConversationStore) -> None:
    await add(store, KEY, turn("q1"))
    await add(store, KEY, turn("broken", status=TurnStatus.FAILED, role=Role.ASSISTANT))
    await add(store, KEY, turn("cut", status=TurnStatus.INTERRUPTED, role=Role.ASSISTANT))
    await add(store, KEY, turn("streaming", status=TurnStatus.STREAMING, role=Role.ASSISTANT))
    result = await window(store)
    assert texts(result) == ["q1", "cut", "streaming"]
    assert result.omitted == 0
    result = await window(store, max_turns=1)
    assert result.omitted == 2


async def test_reset_starts_history_after_the_newest_turn(store: ConversationStore) -> None:
    await add_many(store, KEY, 3)
    await add(store, OTHER, turn("other"))
    await store.save_settings(KEY, ConversationSettings(model="m"))
    await store.reset(KEY)
    result = await window(store)
    assert result.turns == ()
    assert result.omitted == 0
    await add(store, KEY, turn("after"))
    result = await window(store, max_turns=1)
    assert texts(result) == ["after"]
    assert result.omitted == 0
    assert texts(await window(store, OTHER)) == ["other"]
    assert (await store.settings(KEY)).model == "m"
    assert await store.has_conversation(KEY)


async def test_reset_survives_deleting_the_turns_after_it(store: ConversationStore) -> None:
    await add(store, KEY, turn("old", message_id="m-1"))
    await store.reset(KEY)
    await add(store, KEY, turn("new", message_id="m-2"))
    assert await store.delete_message("discord", "m-2")
    await store.reset(KEY)  # no turn after the boundary: the boundary must not move back
    assert texts(await window(store)) == []
    await add(store, KEY, turn("newest"))
    assert texts(await window(store)) == ["newest"]


async def test_reset_of_unknown_thread_does_nothing(store: ConversationStore) -> None:
    await store.reset(KEY)
    assert not await store.has_conversation(KEY)
    assert (await window(store)).turns == ()


async def test_an_answer_follows_its_question_in_history(store: ConversationStore) -> None:
    q1 = await add(store, KEY, turn("q1"))
    q2 = await add(store, KEY, turn("q2"))  # asked while the answer to q1 streamed
    assert texts(await window(store)) == ["q1", "q2"]
    await add(store, KEY, turn("a1", role=Role.ASSISTANT, reply_to=q1.id))
    await add(store, KEY, turn("a2", role=Role.ASSISTANT, reply_to=q2.id))
    assert texts(await window(store)) == ["q1", "a1", "q2", "a2"]
    result = await window(store, max_turns=3)
    assert texts(result) == ["a1", "q2", "a2"]
    assert result.omitted == 1


async def test_through_leaves_out_what_is_ordered_after_a_question(
    store: ConversationStore,
) -> None:
    q1 = await add(store, KEY, turn("q1", tokens=2))
    q2 = await add(store, KEY, turn("q2", tokens=2))
    await add(store, KEY, turn("a1", role=Role.ASSISTANT, reply_to=q1.id, tokens=2))
    await add(store, KEY, turn("q3", tokens=2))
    assert q1.id is not None
    assert q2.id is not None
    result = await store.history(KEY, token_budget=100, max_turns=10, through=q1.id)
    assert texts(result) == ["q1"]
    assert result.omitted == 0
    result = await store.history(KEY, token_budget=100, max_turns=10, through=q2.id)
    assert texts(result) == ["q1", "a1", "q2"]
    result = await store.history(KEY, token_budget=4, max_turns=10, through=q2.id)
    assert texts(result) == ["a1", "q2"]
    assert result.omitted == 1  # q1; q3 comes later and is not "older"
    assert texts(await window(store)) == ["q1", "a1", "q2", "q3"]


# -- history stays right after writes (SQLite serves it from a cache) -------------


async def test_history_sees_updates_edits_and_deletes_made_after_it(
    store: ConversationStore,
) -> None:
    user = await add(store, KEY, turn("question", message_id="m-1"))
    answer = await add(store, KEY, turn("", role=Role.ASSISTANT, status=TurnStatus.STREAMING))
    assert answer.id is not None
    assert texts(await window(store)) == ["question", ""]
    await store.update_turn(answer.id, TurnUpdate(text="answer", status=TurnStatus.COMPLETE))
    assert texts(await window(store)) == ["question", "answer"]
    assert await store.edit_message("discord", "m-1", "better question", 1)
    assert texts(await window(store)) == ["better question", "answer"]
    await store.update_turn(answer.id, TurnUpdate(status=TurnStatus.FAILED))
    assert texts(await window(store)) == ["better question"]
    await store.update_turn(answer.id, TurnUpdate(status=TurnStatus.COMPLETE))
    assert texts(await window(store)) == ["better question", "answer"]
    assert await store.delete_message("discord", "m-1")
    assert texts(await window(store)) == ["answer"]
    assert user.id is not None
    assert await store.get_turn(user.id) is None


async def test_token_edits_change_what_fits(store: ConversationStore) -> None:
    await add(store, KEY, turn("a", tokens=3, message_id="m-a"))
    await add(store, KEY, turn("b", tokens=3, message_id="m-b"))
    assert texts(await window(store, budget=6)) == ["a", "b"]
    await store.edit_message("discord", "m-b", "b, longer", 5)
    result = await window(store, budget=6)
    assert texts(result) == ["b, longer"]
    assert result.omitted == 1


async def test_long_thread_paged_budget_growth_and_old_changes(store: ConversationStore) -> None:
    """Over a thousand turns: small then large budgets, and changes to old turns."""
    turns = await add_many(store, KEY, 1300)
    result = await window(store, budget=10, max_turns=5000)
    assert texts(result) == [f"t{i}" for i in range(1290, 1300)]
    assert result.omitted == 1290
    for extra in range(3):  # new turns slide the window forward
        await add(store, KEY, turn(f"n{extra}"))
        result = await window(store, budget=10, max_turns=5000)
        assert result.omitted == 1290 + extra + 1
    result = await window(store, budget=1200, max_turns=5000)
    assert len(result.turns) == 1200
    assert result.omitted == 103
    old = turns[5].id
    assert old is not None
    await store.update_turn(old, TurnUpdate(status=TurnStatus.FAILED))
    await store.update_turn(old + 1, TurnUpdate(tokens=0))
    result = await window(store, budget=10_000, max_turns=5000)
    assert len(result.turns) == 1302
    assert result.omitted == 0
    result = await window(store, budget=1201, max_turns=1201)
    assert result.omitted == 1302 - 1201


async def test_a_late_answer_to_an_old_question(store: ConversationStore) -> None:
    old = await add(store, KEY, turn("old question"))
    await add_many(store, KEY, 1100)
    assert (await window(store, budget=5)).omitted == 1096
    await add(store, KEY, turn("late answer", role=Role.ASSISTANT, reply_to=old.id))
    assert texts(await window(store, budget=3)) == ["t1097", "t1098", "t1099"]
    assert (await window(store, budget=5)).omitted == 1097
    everything = await window(store, budget=5000, max_turns=5000)
    assert texts(everything)[:3] == ["old question", "late answer", "t0"]


async def test_status_changes_of_an_old_turn_outside_the_window(
    store: ConversationStore,
) -> None:
    first = await add(store, KEY, turn("first"))
    await add_many(store, KEY, 1100)
    assert (await window(store, budget=5)).omitted == 1096
    assert first.id is not None
    await store.update_turn(first.id, TurnUpdate(status=TurnStatus.FAILED))
    assert (await window(store, budget=5)).omitted == 1095
    await store.update_turn(first.id, TurnUpdate(status=TurnStatus.INTERRUPTED))
    assert (await window(store, budget=5)).omitted == 1096


async def test_deleting_an_old_turn_outside_the_window(store: ConversationStore) -> None:
    await add(store, KEY, turn("first", message_id="m-first"))
    await add_many(store, KEY, 1100)
    assert (await window(store, budget=5)).omitted == 1096
    assert await store.delete_message("discord", "m-first")
    assert (await window(store, budget=5)).omitted == 1095
    assert len((await window(store, budget=2000, max_turns=2000)).turns) == 1100


# -- find_by_message / refs ---------------------------------------------------------


async def test_find_by_message_matches_the_turn_or_its_replies(store: ConversationStore) -> None:
    user = await add(store, KEY, turn("q", message_id="m-1"))
    answer = await add(store, KEY, turn("a", role=Role.ASSISTANT, reply_message_ids=("r-1", "r-2")))
    assert await store.find_by_message("discord", "m-1") == StoredTurn(KEY, user)
    assert await store.find_by_message("discord", "r-2") == StoredTurn(KEY, answer)
    assert await store.find_by_message("discord", "nope") is None
    assert await store.find_by_message("slack", "m-1") is None


async def test_update_turn_replaces_reply_refs(store: ConversationStore) -> None:
    answer = await add(store, KEY, turn("a", role=Role.ASSISTANT, reply_message_ids=("r-1",)))
    assert answer.id is not None
    await store.update_turn(answer.id, TurnUpdate(reply_message_ids=("r-2", "r-3")))
    assert await store.find_by_message("discord", "r-1") is None
    found = await store.find_by_message("discord", "r-3")
    assert found is not None
    assert found.key == KEY
    assert found.turn.reply_message_ids == ("r-2", "r-3")
    await store.update_turn(answer.id, TurnUpdate(reply_message_ids=()))
    assert await store.find_by_message("discord", "r-2") is None


async def test_deleting_a_turn_drops_its_reply_refs(store: ConversationStore) -> None:
    await add(store, KEY, turn("q", message_id="m-1", reply_message_ids=("r-1",)))
    assert await store.delete_message("discord", "m-1")
    assert await store.find_by_message("discord", "r-1") is None
    assert not await store.delete_message("discord", "m-1")
    assert await store.add_turn(KEY, turn("q again", message_id="m-1")) is not None


# -- update_turn / edit_message ---------------------------------------------------


async def test_update_turn_changes_only_the_given_fields(store: ConversationStore) -> None:
    answer = await add(
        store,
        KEY,
        turn("", role=Role.ASSISTANT, status=TurnStatus.STREAMING, model="m1", tokens=0),
    )
    assert answer.id is not None
    await store.update_turn(answer.id, TurnUpdate(text="partial", tokens=2))
    await store.update_turn(
        answer.id,
        TurnUpdate(status=TurnStatus.COMPLETE, usage=Usage(10, 20), trace_id="tr", model="m2"),
    )
    stored = await store.get_turn(answer.id)
    assert stored is not None
    assert stored.updated_at is not None
    assert stored == replace(
        answer,
        text="partial",
        tokens=2,
        status=TurnStatus.COMPLETE,
        usage=Usage(10, 20),
        trace_id="tr",
        model="m2",
        updated_at=stored.updated_at,
    )


async def test_update_of_a_missing_turn_is_ignored(store: ConversationStore) -> None:
    await store.update_turn(999, TurnUpdate(text="x", reply_message_ids=("r",)))
    assert await store.get_turn(999) is None
    assert await store.find_by_message("discord", "r") is None


async def test_edit_message(store: ConversationStore) -> None:
    stored = await add(store, KEY, turn("typo", message_id="m-1", tokens=1))
    assert await store.edit_message("discord", "m-1", "fixed text", 3)
    assert not await store.edit_message("discord", "m-2", "x", 1)
    assert not await store.edit_message("slack", "m-1", "x", 1)
    assert stored.id is not None
    edited = await store.get_turn(stored.id)
    assert edited is not None
    assert (edited.text, edited.tokens) == ("fixed text", 3)
    assert edited.updated_at is not None


# -- conversations and settings -----------------------------------------------------


async def test_has_conversation_needs_a_turn(store: ConversationStore) -> None:
    assert not await store.has_conversation(KEY)
    await store.save_settings(KEY, ConversationSettings(model="m"))
    assert not await store.has_conversation(KEY)
    await add(store, KEY, turn(status=TurnStatus.FAILED))
    assert await store.has_conversation(KEY)
    assert not await store.has_conversation(OTHER)


async def test_settings_default_round_trip_and_clear(store: ConversationStore) -> None:
    assert await store.settings(KEY) == ConversationSettings()
    chosen = ConversationSettings(model="gpt-4o", system_prompt="Be brief.", temperature=0.25)
    await store.save_settings(KEY, chosen)
    assert await store.settings(KEY) == chosen
    assert await store.settings(OTHER) == ConversationSettings()
    await store.save_settings(KEY, ConversationSettings(temperature=1.5))
    assert await store.settings(KEY) == ConversationSettings(temperature=1.5)
    await add(store, KEY, turn())
    assert await store.settings(KEY) == ConversationSettings(temperature=1.5)


async def test_parameters_round_trip_and_clear(store: ConversationStore) -> None:
    """max_tokens and response_format (``/settings``) are stored with the conversation."""
    chosen = ConversationSettings(
        model="gpt-4o", temperature=0.0, max_tokens=512, response_format="json_object"
    )
    await store.save_settings(KEY, chosen)
    assert await store.settings(KEY) == chosen
    assert await store.settings(OTHER) == ConversationSettings()
    await store.save_settings(KEY, ConversationSettings(model="gpt-4o"))
    assert await store.settings(KEY) == ConversationSettings(model="gpt-4o")


# -- recovery and usage -------------------------------------------------------------


async def test_interrupt_streaming_marks_and_returns_streaming_turns(
    store: ConversationStore,
) -> None:
    await add(store, KEY, turn("q"))
    a = await add(store, KEY, turn("partial", role=Role.ASSISTANT, status=TurnStatus.STREAMING))
    b = await add(store, SLACK, turn("other", role=Role.ASSISTANT, status=TurnStatus.STREAMING))
    assert texts(await window(store)) == ["q", "partial"]
    recovered = await store.interrupt_streaming()
    assert [(r.key, r.turn.id, r.turn.text) for r in recovered] == [
        (KEY, a.id, "partial"),
        (SLACK, b.id, "other"),
    ]
    assert all(r.turn.status == TurnStatus.INTERRUPTED for r in recovered)
    assert a.id is not None
    stored = await store.get_turn(a.id)
    assert stored is not None
    assert stored.status == TurnStatus.INTERRUPTED
    assert [t.status for t in (await window(store)).turns] == [
        TurnStatus.COMPLETE,
        TurnStatus.INTERRUPTED,
    ]
    assert await store.interrupt_streaming() == []


async def test_delivery_is_owed_until_recorded_and_survives_interruption(
    store: ConversationStore,
) -> None:
    """What the platform was shown is kept apart from what was written (issue 22 point 2)."""
    owed = Delivery.PENDING
    shown = await add(store, KEY, turn("a", role=Role.ASSISTANT, delivery=owed))
    lost = await add(store, KEY, turn("b", role=Role.ASSISTANT, delivery=owed))
    cut = await add(store, SLACK, turn("c", role=Role.ASSISTANT, status=TurnStatus.STREAMING))
    await add(store, KEY, turn("question"))  # a question owes nothing
    assert shown.id is not None
    assert lost.id is not None
    await store.update_turn(shown.id, TurnUpdate(delivery=Delivery.DELIVERED))
    assert [s.turn.id for s in await store.undelivered_answers("discord")] == [lost.id]
    assert await store.undelivered_answers("slack") == []  # still streaming: not yet owed
    # A crash cut it: its platform repair is owed, recorded in the same write.
    [recovered] = await store.interrupt_streaming()
    assert recovered.turn.delivery is Delivery.PENDING
    [repair] = await store.undelivered_answers("slack")
    assert (repair.key, repair.turn.id, repair.turn.status) == (
        SLACK,
        cut.id,
        TurnStatus.INTERRUPTED,
    )
    await store.update_turn(lost.id, TurnUpdate(delivery=Delivery.NOTIFIED))
    assert await store.undelivered_answers("discord") == []
    again = await store.get_turn(lost.id)
    assert again is not None
    assert again.delivery is Delivery.NOTIFIED


async def test_recent_conversations_name_their_newest_stored_question(
    store: ConversationStore,
) -> None:
    await add(store, KEY, turn("old", message_id="100", created_at=1_000.0))
    await add(store, KEY, turn("newer", message_id="105", created_at=2_000.0))
    await add(store, KEY, turn("an answer", role=Role.ASSISTANT, created_at=2_001.0))
    await add(store, OTHER, turn("long ago", message_id="90", created_at=500.0))
    await add(store, SLACK, turn("elsewhere", message_id="C1:1.0", created_at=2_000.0))
    assert await store.recent_conversations("discord", since=1_500.0) == [(KEY, "105")]
    assert await store.recent_conversations("discord", since=0.0) == [(KEY, "105"), (OTHER, "90")]
    assert await store.recent_conversations("slack", since=0.0) == [(SLACK, "C1:1.0")]


async def test_storing_an_answer_marks_its_pending_question_complete(
    store: ConversationStore,
) -> None:
    asked = await add(store, KEY, turn("q", status=TurnStatus.PENDING))
    context = await add(store, KEY, turn("imported"))  # complete: stays so
    assert [t.status for t in (await window(store)).turns] == [
        TurnStatus.PENDING,
        TurnStatus.COMPLETE,
    ]
    await add(store, KEY, turn("a", role=Role.ASSISTANT, reply_to=asked.id))
    assert asked.id is not None
    assert context.id is not None
    answered = await store.get_turn(asked.id)
    assert answered is not None
    assert answered.status is TurnStatus.COMPLETE
    # The window read before the answer (SQLite caches it) shows the change too.
    assert [(t.text, t.status) for t in (await window(store)).turns] == [
        ("q", TurnStatus.COMPLETE),
        ("a", TurnStatus.COMPLETE),
        ("imported", TurnStatus.COMPLETE),
    ]


async def test_an_answer_in_any_status_answers_its_question(store: ConversationStore) -> None:
    for status in (TurnStatus.STREAMING, TurnStatus.FAILED, TurnStatus.INTERRUPTED):
        asked = await add(store, KEY, turn(f"q {status}", status=TurnStatus.PENDING))
        await add(store, KEY, turn("a", role=Role.ASSISTANT, reply_to=asked.id, status=status))
    assert await store.unanswered_questions(since=0.0) == []


async def test_unanswered_questions_are_the_pending_ones_oldest_first(
    store: ConversationStore,
) -> None:
    reset_thread = ThreadKey("discord", "guild-1", "chan-1", "thread-3")
    answered = await add(store, KEY, turn("answered", status=TurnStatus.PENDING))
    await add(store, KEY, turn("a", role=Role.ASSISTANT, reply_to=answered.id))
    waiting = await add(store, KEY, turn("waiting", status=TurnStatus.PENDING, created_at=500.0))
    await add(store, KEY, turn("context"))  # brought in from the platform: never asked
    refused = await add(store, KEY, turn("refused", status=TurnStatus.PENDING))
    assert refused.id is not None
    await store.update_turn(refused.id, TurnUpdate(status=TurnStatus.FAILED))
    slack = await add(store, SLACK, turn("on slack", status=TurnStatus.PENDING, created_at=600.0))
    await add(store, OTHER, turn("too old", status=TurnStatus.PENDING, created_at=499.0))
    await add(store, reset_thread, turn("before the reset", status=TurnStatus.PENDING))
    await store.reset(reset_thread)

    unanswered = await store.unanswered_questions(since=500.0)
    assert [(u.key, u.turn.id, u.turn.text) for u in unanswered] == [
        (KEY, waiting.id, "waiting"),
        (SLACK, slack.id, "on slack"),
    ]
    assert unanswered[0].turn == waiting  # the whole turn, as stored
    assert await store.unanswered_questions(since=500.0) == unanswered  # changes nothing
    assert [u.turn.text for u in await store.unanswered_questions(since=0.0)] == [
        "waiting",
        "on slack",
        "too old",
    ]
    await add(store, SLACK, turn("a", role=Role.ASSISTANT, reply_to=slack.id))
    assert [u.turn.id for u in await store.unanswered_questions(since=500.0)] == [waiting.id]


async def test_usage_since_sums_matching_turns(store: ConversationStore) -> None:
    elsewhere = ThreadKey("discord", "guild-2", "chan-9", "t")
    other_channel = ThreadKey("discord", "guild-1", "chan-2", "t")

    async def answer(key: ThreadKey, at: float, usage: Usage | None, requester: str) -> None:
        await add(
            store,
            key,
            turn(role=Role.ASSISTANT, usage=usage, requester_id=requester, created_at=at),
        )

    await answer(KEY, 100.0, Usage(1, 2), "u1")
    await answer(KEY, 200.0, Usage(10, 20), "u1")
    await answer(KEY, 300.0, Usage(100, 200), "u2")
    await answer(KEY, 300.0, None, "u1")
    await answer(other_channel, 250.0, Usage(1000, 2000), "u1")
    await answer(elsewhere, 250.0, Usage(10_000, 20_000), "u1")
    await answer(SLACK, 250.0, Usage(7, 7), "u1")

    assert await store.usage_since(200.0, platform="discord") == Usage(11_110, 22_220)
    assert await store.usage_since(0.0, platform="discord", workspace="guild-1") == Usage(
        1111, 2222
    )
    assert await store.usage_since(
        0.0, platform="discord", workspace="guild-1", channel="chan-1"
    ) == Usage(111, 222)
    assert await store.usage_since(150.0, platform="discord", requester_id="u1") == Usage(
        11_010, 22_020
    )
    assert await store.usage_since(0.0, platform="slack") == Usage(7, 7)
    assert await store.usage_since(301.0, platform="discord") == Usage()
    assert await store.usage_since(0.0, platform="console") == Usage()


# -- rate buckets ---------------------------------------------------------------------

USER = Bucket("user:discord:u1", capacity=2, per_second=0.5)
CHANNEL = Bucket("channel:discord:c1", capacity=3, per_second=0.1)


async def test_a_new_bucket_is_full_and_empties_one_token_a_take(store: ConversationStore) -> None:
    assert await store.take_tokens([USER], now=1000.0) == (0.0,)
    assert await store.take_tokens([USER], now=1000.0) == (0.0,)
    # Empty: one token comes back in 1 / 0.5 = 2 s.
    assert await store.take_tokens([USER], now=1000.0) == (pytest.approx(2.0),)
    assert await store.take_tokens([USER], now=1001.5) == (pytest.approx(0.5),)
    assert await store.take_tokens([USER], now=1002.0) == (0.0,)


async def test_buckets_refill_no_higher_than_their_capacity(store: ConversationStore) -> None:
    for _ in range(2):
        await store.take_tokens([USER], now=0.0)
    # A day later the bucket holds its capacity (2), not a day's worth of tokens.
    assert await store.take_tokens([USER], now=86_400.0) == (0.0,)
    assert await store.take_tokens([USER], now=86_400.0) == (0.0,)
    assert await store.take_tokens([USER], now=86_400.0) != (0.0,)


async def test_several_buckets_are_taken_from_together_or_not_at_all(
    store: ConversationStore,
) -> None:
    other_user = Bucket("user:discord:u2", capacity=2, per_second=0.5)
    assert await store.take_tokens([USER, CHANNEL], now=0.0) == (0.0, 0.0)
    assert await store.take_tokens([USER, CHANNEL], now=0.0) == (0.0, 0.0)
    assert await store.take_tokens([other_user, CHANNEL], now=0.0) == (0.0, 0.0)
    # The channel is empty: the other user is refused, and keeps its token.
    assert await store.take_tokens([other_user, CHANNEL], now=0.0) == (0.0, pytest.approx(10.0))
    assert await store.take_tokens([other_user], now=0.0) == (0.0,)
    # Each bucket says how far it is from a token.
    assert await store.take_tokens([USER, CHANNEL], now=1.0) == (
        pytest.approx(1.0),
        pytest.approx(9.0),
    )


async def test_no_buckets_is_no_limit(store: ConversationStore) -> None:
    assert await store.take_tokens([], now=0.0) == ()


async def test_update_texts_stores_every_streaming_answer_and_no_finished_one(
    store: ConversationStore,
) -> None:
    first = await add(store, KEY, turn("", role=Role.ASSISTANT, status=TurnStatus.STREAMING))
    second = await add(store, OTHER, turn("", role=Role.ASSISTANT, status=TurnStatus.STREAMING))
    done = await add(store, KEY, turn("the whole answer", role=Role.ASSISTANT))
    assert first.id is not None
    assert second.id is not None
    assert done.id is not None
    await store.history(KEY, token_budget=10_000, max_turns=10)  # a cached window must follow too

    await store.update_texts({first.id: "so far", second.id: "and here", done.id: "a late flush"})
    await store.update_texts({})

    texts = [(await store.get_turn(t)) for t in (first.id, second.id, done.id)]
    assert [t.text if t else None for t in texts] == ["so far", "and here", "the whole answer"]
    window = await store.history(KEY, token_budget=10_000, max_turns=10)
    assert [t.text for t in window.turns] == ["so far", "the whole answer"]
    await store.update_texts({999: "missing"})  # no such turn: nothing happens


async def test_estimated_usage_is_kept_apart_in_turns_and_sums(store: ConversationStore) -> None:
    """Exact (the server's) and estimated (threadline's) figures: ``/usage`` shows both."""
    since = time.time() - 60
    exact = await add(store, KEY, turn("a", role=Role.ASSISTANT, usage=Usage(3, 2)))
    guessed = await add(store, KEY, turn("b", role=Role.ASSISTANT, usage=Usage.estimate(10, 5)))
    assert exact.id is not None
    assert guessed.id is not None
    assert (await store.get_turn(guessed.id)).usage == Usage(10, 5, 15)  # type: ignore[union-attr]
    assert (await store.get_turn(exact.id)).usage == Usage(3, 2)  # type: ignore[union-attr]
    assert await store.usage_since(since, platform=KEY.platform) == Usage(13, 7, 15)
    later = await add(store, KEY, turn("c", role=Role.ASSISTANT))
    assert later.id is not None
    await store.update_turn(later.id, TurnUpdate(usage=Usage.estimate(1, 1)))
    assert await store.usage_since(since, platform=KEY.platform) == Usage(14, 8, 17)


# -- Slack installations --------------------------------------------------------

_INSTALL = {"enterprise_id": None, "team_id": "T0ACME01", "user_id": "U0ALICE1", "bot_token": "b1"}


async def test_an_installation_is_found_by_its_user_and_as_its_workspaces_newest(
    store: ConversationStore,
) -> None:
    await store.save_installation(_INSTALL)
    assert await store.find_installation(None, "T0ACME01", "U0ALICE1") == _INSTALL
    assert await store.find_installation(None, "T0ACME01") == _INSTALL
    assert await store.find_installation(None, "T0OTHER1") is None
    newer = {**_INSTALL, "user_id": "U0BOB001", "bot_token": "b2"}
    await store.save_installation(newer)
    assert await store.find_installation(None, "T0ACME01") == newer
    assert await store.find_installation(None, "T0ACME01", "U0ALICE1") == _INSTALL


async def test_a_found_installation_is_a_copy(store: ConversationStore) -> None:
    await store.save_installation(_INSTALL)
    found = await store.find_installation(None, "T0ACME01")
    assert found is not None
    found["bot_token"] = "changed"
    assert await store.find_installation(None, "T0ACME01") == _INSTALL


async def test_deleting_a_users_installation_keeps_the_workspaces(store: ConversationStore) -> None:
    await store.save_installation(_INSTALL)
    await store.delete_installation(None, "T0ACME01", "U0ALICE1")
    assert await store.find_installation(None, "T0ACME01", "U0ALICE1") is None
    assert await store.find_installation(None, "T0ACME01") == _INSTALL
    await store.delete_installation(None, "T0ACME01")
    assert await store.find_installation(None, "T0ACME01") is None


async def test_an_enterprise_install_without_a_team_is_kept(store: ConversationStore) -> None:
    org = {"enterprise_id": "E0GRID01", "team_id": None, "user_id": None, "bot_token": "b3"}
    await store.save_installation(org)
    assert await store.find_installation("E0GRID01", None) == org
    assert await store.find_installation(None, None) is None
