"""``Conversations``: the use-cases the adapters are handed instead of the store, on a
real SQLite file and in memory (the ``store`` fixture)."""

from __future__ import annotations

import pytest

from bot.conversation import IMAGE_TOKENS, estimate_tokens
from bot.conversations import Conversations
from bot.domain import Attachment, Bucket, Incoming, Role, ThreadKey, Turn, TurnStatus
from bot.ports import ConversationStore

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
# Production-shaped ids: a Discord snowflake, a Slack channel:ts message id.
PLATFORMS = {
    "discord": (ThreadKey("discord", "1185612345678901248", "1185612345678901249", ""), "1185699999999999999"),
    "slack": (ThreadKey("slack", "T0123ABCD", "C0123ABCD", "1764990000.000100"), "C0123ABCD:1764990000.000100"),
}  # fmt: skip


def question(key: ThreadKey, message_id: str, text: str, *images: bytes) -> Incoming:
    attachments = tuple(Attachment(f"{i}.png", "image/png", data) for i, data in enumerate(images))
    return Incoming(key, message_id, "U0ALICE001", "alice", text, attachments)


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
async def test_an_edit_counts_the_images_the_question_keeps_on_every_platform(
    store: ConversationStore, platform: str
) -> None:
    """Issue 17: after an edit Discord counted image tokens and Slack did not."""
    key, message_id = PLATFORMS[platform]
    conversations = Conversations(store)
    assert await conversations.import_history(key, [question(key, message_id, "what is it", PNG)])

    assert await conversations.edited(platform, message_id, "what colour is it")

    found = await conversations.find(platform, message_id)
    assert found is not None
    assert found.turn.text == "what colour is it"
    assert found.turn.tokens == estimate_tokens("what colour is it") + IMAGE_TOKENS


async def test_an_edit_changes_only_a_persons_stored_message_with_new_text(
    store: ConversationStore,
) -> None:
    key, message_id = PLATFORMS["discord"]
    conversations = Conversations(store)
    await conversations.import_history(key, [question(key, message_id, "hello")])
    answer = Turn(Role.ASSISTANT, "hi", platform_message_id="1185700000000000001")
    await store.add_turn(key, answer)

    assert not await conversations.edited("discord", message_id, "hello")  # the same text
    assert not await conversations.edited("discord", "1185700000000000001", "changed")
    assert not await conversations.edited("discord", "1185700000000000002", "never stored")
    window = await store.history(key, token_budget=10_000, max_turns=10)
    assert [t.text for t in window.turns] == ["hello", "hi"]


async def test_a_deleted_message_is_forgotten_once(store: ConversationStore) -> None:
    key, message_id = PLATFORMS["slack"]
    conversations = Conversations(store)
    await conversations.import_history(key, [question(key, message_id, "aside")])

    assert await conversations.deleted("slack", message_id)
    assert not await conversations.deleted("slack", message_id)
    assert await conversations.find("slack", message_id) is None


async def test_imported_history_is_context_stored_once(store: ConversationStore) -> None:
    key, _ = PLATFORMS["slack"]
    conversations = Conversations(store)
    earlier = [question(key, f"C0123ABCD:176499000{i}.000100", f"message {i}") for i in range(3)]

    assert not await conversations.knows(key)
    assert await conversations.import_history(key, earlier) == 3
    assert await conversations.import_history(key, earlier[1:]) == 0  # read again: no copies

    assert await conversations.knows(key)
    window = await store.history(key, token_budget=10_000, max_turns=10)
    assert [t.text for t in window.turns] == ["message 0", "message 1", "message 2"]
    assert {t.status for t in window.turns} == {TurnStatus.COMPLETE}  # context, not questions
    assert await store.unanswered_questions(since=0) == []


async def test_recent_names_each_conversation_by_its_newest_question(
    store: ConversationStore,
) -> None:
    key, message_id = PLATFORMS["discord"]
    conversations = Conversations(store)
    await conversations.import_history(key, [question(key, message_id, "hello")])

    assert await conversations.recent("discord", since=0) == [(key, message_id)]
    assert await conversations.recent("slack", since=0) == []


async def test_pacing_takes_the_stores_buckets(store: ConversationStore) -> None:
    bucket = Bucket("slack:T0123ABCD:conversations.replies", capacity=1.0, per_second=1 / 60)
    pacing = Conversations(store).pacing

    assert await pacing.take_tokens([bucket], now=1000.0) == (0.0,)
    (wait,) = await pacing.take_tokens([bucket], now=1030.0)
    assert wait == pytest.approx(30.0)
    (wait,) = await store.take_tokens([bucket], now=1030.0)  # the same bucket
    assert wait == pytest.approx(30.0)
