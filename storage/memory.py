"""``ConversationStore`` in plain dicts, for fast unit tests of the core.

Same contract as ``storage.sqlite.SqliteStore`` (tests/storage/test_contract.py
runs one suite on both), written as plainly as possible so it also serves as
the reference model in the property tests. Nothing survives the process.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar

from bot.domain import (
    Bucket,
    ConversationSettings,
    Delivery,
    HistoryWindow,
    Role,
    StoredTurn,
    ThreadKey,
    Turn,
    TurnStatus,
    TurnUpdate,
    Usage,
    installation_key,
    shortfalls,
)
from bot.lifetime import ClosesOnExit

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["MemoryStore"]

_T = TypeVar("_T")


@dataclass(slots=True)
class _Conversation:
    settings: ConversationSettings = field(default_factory=ConversationSettings)
    start: int = 0  # history only includes turns with a larger id (set by ``reset``)
    turn_ids: list[int] = field(default_factory=list)  # ascending


class MemoryStore(ClosesOnExit):
    """Thread history in memory; implements ``bot.ports.ConversationStore``."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._conversations: dict[ThreadKey, _Conversation] = {}
        self._turns: dict[int, tuple[ThreadKey, Turn]] = {}
        self._by_message: dict[tuple[str, str], int] = {}
        self._refs: dict[tuple[str, str], int] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # scope -> (level, at)
        self._installations: dict[tuple[str, str, str], dict[str, object]] = {}

    async def close(self) -> None:
        """Nothing to release; present for the contract."""

    async def add_turn(self, key: ThreadKey, turn: Turn) -> Turn | None:
        message = _message_key(key.platform, turn.platform_message_id)
        if message is not None and message in self._by_message:
            return None
        stored = replace(turn, id=next(self._ids))
        assert stored.id is not None
        self._conversations.setdefault(key, _Conversation()).turn_ids.append(stored.id)
        self._turns[stored.id] = (key, stored)
        if message is not None:
            self._by_message[message] = stored.id
        self._point_refs(key.platform, stored.id, stored.reply_message_ids)
        if stored.reply_to is not None:
            self._answered(key, stored.reply_to)
        return stored

    def _answered(self, key: ThreadKey, question_id: int) -> None:
        """Storing an answer answers its question: ``pending`` becomes ``complete``."""
        found = self._turns.get(question_id)
        if found is not None and found[0] == key and found[1].status == TurnStatus.PENDING:
            self._turns[question_id] = (key, replace(found[1], status=TurnStatus.COMPLETE))

    async def update_turn(self, turn_id: int, update: TurnUpdate) -> None:
        """Apply the non-``None`` fields of ``update``; a missing turn is left alone."""
        found = self._turns.get(turn_id)
        if found is None:
            return
        key, turn = found
        if update.reply_message_ids is not None:
            self._refs = {ref: tid for ref, tid in self._refs.items() if tid != turn_id}
            self._point_refs(key.platform, turn_id, update.reply_message_ids)
        updated = replace(
            turn,
            text=_or(update.text, turn.text),
            status=_or(update.status, turn.status),
            model=_or(update.model, turn.model),
            usage=_or(update.usage, turn.usage),
            trace_id=_or(update.trace_id, turn.trace_id),
            tokens=_or(update.tokens, turn.tokens),
            reply_message_ids=_or(update.reply_message_ids, turn.reply_message_ids),
            parts=_or(update.parts, turn.parts),
            delivery=_or(update.delivery, turn.delivery),
            updated_at=time.time(),
        )
        self._turns[turn_id] = (key, updated)

    async def update_texts(self, texts: Mapping[int, str]) -> None:
        for turn_id, text in texts.items():
            found = self._turns.get(turn_id)
            if found is not None and found[1].status is TurnStatus.STREAMING:
                await self.update_turn(turn_id, TurnUpdate(text=text))

    async def get_turn(self, turn_id: int) -> Turn | None:
        found = self._turns.get(turn_id)
        return None if found is None else found[1]

    async def history(
        self, key: ThreadKey, *, token_budget: int, max_turns: int, through: int | None = None
    ) -> HistoryWindow:
        if max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, not {max_turns}")
        conversation = self._conversations.get(key)
        if conversation is None:
            return HistoryWindow((), 0)
        last = None if through is None else (through, through)
        eligible = sorted(
            (
                turn
                for turn_id in conversation.turn_ids
                if turn_id > conversation.start
                and (turn := self._turns[turn_id][1]).status != TurnStatus.FAILED
                and (last is None or _order(turn) <= last)
            ),
            key=_order,
        )
        chosen: list[Turn] = []
        spent = 0
        for turn in reversed(eligible):
            if len(chosen) == max_turns or (chosen and spent + turn.tokens > token_budget):
                break
            chosen.append(turn)
            spent += turn.tokens
        return HistoryWindow(tuple(reversed(chosen)), len(eligible) - len(chosen))

    async def find_by_message(self, platform: str, message_id: str) -> StoredTurn | None:
        ref = (platform, message_id)
        turn_id = self._by_message.get(ref, self._refs.get(ref))
        if turn_id is None:
            return None
        return StoredTurn(*self._turns[turn_id])

    async def edit_message(self, platform: str, message_id: str, text: str, tokens: int) -> bool:
        turn_id = self._by_message.get((platform, message_id))
        if turn_id is None:
            return False
        key, turn = self._turns[turn_id]
        edited = replace(turn, text=text, tokens=tokens, updated_at=time.time())
        self._turns[turn_id] = (key, edited)
        return True

    async def delete_message(self, platform: str, message_id: str) -> bool:
        turn_id = self._by_message.pop((platform, message_id), None)
        if turn_id is None:
            return False
        key, _turn = self._turns.pop(turn_id)
        self._conversations[key].turn_ids.remove(turn_id)
        self._refs = {ref: tid for ref, tid in self._refs.items() if tid != turn_id}
        return True

    async def has_conversation(self, key: ThreadKey) -> bool:
        conversation = self._conversations.get(key)
        return conversation is not None and bool(conversation.turn_ids)

    async def settings(self, key: ThreadKey) -> ConversationSettings:
        conversation = self._conversations.get(key)
        return ConversationSettings() if conversation is None else conversation.settings

    async def save_settings(self, key: ThreadKey, settings: ConversationSettings) -> None:
        self._conversations.setdefault(key, _Conversation()).settings = settings

    async def reset(self, key: ThreadKey) -> None:
        conversation = self._conversations.get(key)
        if conversation is not None and conversation.turn_ids:
            conversation.start = max(conversation.start, conversation.turn_ids[-1])

    async def interrupt_streaming(self) -> list[StoredTurn]:
        now = time.time()
        interrupted: list[StoredTurn] = []
        for turn_id, (key, turn) in sorted(self._turns.items()):
            if turn.status == TurnStatus.STREAMING:
                turn = replace(
                    turn, status=TurnStatus.INTERRUPTED, delivery=Delivery.PENDING, updated_at=now
                )
                self._turns[turn_id] = (key, turn)
                interrupted.append(StoredTurn(key, turn))
        return interrupted

    async def unanswered_questions(self, *, since: float) -> list[StoredTurn]:
        return [
            StoredTurn(key, turn)
            for turn_id, (key, turn) in sorted(self._turns.items())
            if turn.status == TurnStatus.PENDING
            and turn.created_at >= since
            and turn_id > self._conversations[key].start
        ]

    async def recent_conversations(
        self, platform: str, *, since: float
    ) -> list[tuple[ThreadKey, str]]:
        newest: dict[ThreadKey, Turn] = {}
        for _turn_id, (key, turn) in sorted(self._turns.items()):
            if key.platform == platform and turn.role is Role.USER and turn.platform_message_id:
                newest[key] = turn
        found = [(turn, key) for key, turn in newest.items() if turn.created_at >= since]
        found.sort(key=lambda pair: pair[0].id or 0)
        return [(key, turn.platform_message_id or "") for turn, key in found]

    async def undelivered_answers(self, platform: str) -> list[StoredTurn]:
        return [
            StoredTurn(key, turn)
            for _turn_id, (key, turn) in sorted(self._turns.items())
            if key.platform == platform
            and turn.delivery is Delivery.PENDING
            and turn.status is not TurnStatus.STREAMING
        ]

    async def usage_since(
        self,
        since: float,
        *,
        platform: str,
        workspace: str | None = None,
        channel: str | None = None,
        requester_id: str | None = None,
    ) -> Usage:
        prompt = completion = estimated = 0
        for key, turn in self._turns.values():
            if (
                turn.usage is None
                or turn.created_at < since
                or key.platform != platform
                or workspace not in (None, key.workspace)
                or channel not in (None, key.channel)
                or requester_id not in (None, turn.requester_id)
            ):
                continue
            prompt += turn.usage.prompt_tokens
            completion += turn.usage.completion_tokens
            estimated += turn.usage.estimated_tokens
        return Usage(prompt, completion, estimated)

    async def take_tokens(self, buckets: Sequence[Bucket], *, now: float) -> tuple[float, ...]:
        levels = [bucket.level(self._buckets.get(bucket.scope), now) for bucket in buckets]
        waits = shortfalls(buckets, levels)
        if not any(waits):
            for bucket, level in zip(buckets, levels, strict=True):
                self._buckets[bucket.scope] = (level - 1.0, now)
        return waits

    async def save_installation(self, record: Mapping[str, object]) -> None:
        enterprise, team, user = installation_key(record)
        self._installations[(enterprise, team, user)] = dict(record)
        if user:
            self._installations[(enterprise, team, "")] = dict(record)

    async def find_installation(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> dict[str, object] | None:
        found = self._installations.get((enterprise_id or "", team_id or "", user_id or ""))
        return dict(found) if found is not None else None

    async def delete_installation(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        workspace = (enterprise_id or "", team_id or "")
        for key in [k for k in self._installations if k[:2] == workspace]:
            if not user_id or key[2] == user_id:
                del self._installations[key]

    def _point_refs(self, platform: str, turn_id: int, message_ids: tuple[str, ...]) -> None:
        for message_id in message_ids:
            self._refs[(platform, message_id)] = turn_id


def _or(value: _T | None, current: _T) -> _T:
    """``value`` unless it is ``None`` (a ``TurnUpdate`` field left as it is)."""
    return current if value is None else value


def _order(turn: Turn) -> tuple[int, int]:
    """Thread order: an answer sorts right after the question it answers."""
    assert turn.id is not None
    return (turn.id if turn.reply_to is None else turn.reply_to, turn.id)


def _message_key(platform: str, message_id: str | None) -> tuple[str, str] | None:
    return None if message_id is None else (platform, message_id)
