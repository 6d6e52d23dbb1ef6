"""A conversation's life beside answering: look-ups, edits, deletions, history import,
catch-up, and the desk for /model, /system and /reset.

The adapters are handed this service, never the store (issue 17 point 1): each of
these decisions is written once here, so the platforms cannot drift apart (an
edit's size counted images on Discord and not on Slack).

    conversations = Conversations(store)
    await conversations.edited("slack", message_id, text)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from bot.conversation import estimate_tokens
from bot.conversation_settings import SettingsDesk
from bot.domain import Incoming, Role, StoredTurn, ThreadKey
from bot.models import ModelCatalog
from bot.pacing import Pacing
from bot.ports import ConversationStore
from bot.questions import user_turn

__all__ = ["Conversations"]


class Conversations:
    """The use-cases an adapter calls when a message is not a question to answer."""

    def __init__(self, store: ConversationStore) -> None:
        self._store = store
        # The platform calls paced by buckets kept in the store (Slack's
        # conversations.replies): a restart or a second worker knows the last call.
        self.pacing = Pacing(store)

    async def find(self, platform: str, message_id: str) -> StoredTurn | None:
        """The stored turn a platform message holds (a question, or part of an answer)."""
        return await self._store.find_by_message(platform, message_id)

    async def knows(self, key: ThreadKey) -> bool:
        """Does the bot already talk in this conversation (a turn is stored)?"""
        return await self._store.has_conversation(key)

    async def edited(self, platform: str, message_id: str, text: str) -> bool:
        """A person edited a message the bot stored as a question: the next answers read
        the new ``text``. Its size counts the images the question keeps, as when it was
        stored. False when nothing changed (not stored, not a person's, same text)."""
        stored = await self._store.find_by_message(platform, message_id)
        if stored is None or stored.turn.role is not Role.USER or stored.turn.text == text:
            return False
        tokens = estimate_tokens(text, stored.turn.parts)
        return await self._store.edit_message(platform, message_id, text, tokens)

    async def deleted(self, platform: str, message_id: str) -> bool:
        """A message was deleted: forget the turn it held. False when none was stored."""
        return await self._store.delete_message(platform, message_id)

    async def import_history(self, key: ThreadKey, messages: Iterable[Incoming]) -> int:
        """Store the people's messages written before the bot was called into ``key``, as
        context (not questions); a message stored already is skipped. How many were stored."""
        stored = 0
        for message in messages:
            if await self._store.add_turn(key, user_turn(message)) is not None:
                stored += 1
        return stored

    async def recent(self, platform: str, *, since: float) -> list[tuple[ThreadKey, str]]:
        """The conversations whose newest question came at or after ``since``, each with
        that question's message id, oldest first: where to catch up after a stop."""
        return await self._store.recent_conversations(platform, since=since)

    def settings_desk(
        self, catalog: ModelCatalog, *, platform: str, admin_user_ids: Collection[str] = ()
    ) -> SettingsDesk:
        """/model, /system and /reset for one platform (``bot.conversation_settings``)."""
        return SettingsDesk(self._store, catalog, platform=platform, admin_user_ids=admin_user_ids)
