"""The core's vocabulary: plain frozen values that every layer speaks.

Platform objects (discord.Message, Slack event dicts) stop at the adapters'
``translate`` modules; past that point only these types travel.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class TurnStatus(StrEnum):
    """Lifecycle of a stored turn.

    A question the service accepted is stored ``pending`` until its answer turn
    is stored (the store then marks it ``complete``), so one a crash or restart
    left unanswered can be found and answered at the next start. User turns
    stored only as context (a Slack thread's earlier messages) are ``complete``;
    a refused question is ``failed``.
    """

    PENDING = "pending"
    STREAMING = "streaming"
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


class Delivery(StrEnum):
    """Whether an answer's final text reached the platform, kept apart from ``status``
    (what the model wrote): a platform outage must not make a written answer look shown.

    ``pending`` until the platform confirmed the final text (``delivered``), or the
    thread was told that it could not be shown (``notified``). Only answers carry
    one; ``None`` means there is nothing to deliver (questions, context turns).
    An ``interrupted`` answer still ``pending`` is a platform repair not yet done.
    """

    PENDING = "pending"
    DELIVERED = "delivered"
    NOTIFIED = "notified"


@dataclass(frozen=True, slots=True)
class ThreadKey:
    """One conversation: a Discord thread or DM, a Slack thread or DM, a console thread.

    ``workspace`` is the guild id / team id ("" for DMs and the console);
    ``thread`` is the thread id, the Slack ``thread_ts``, or the channel for a DM.
    """

    platform: str
    workspace: str
    channel: str
    thread: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.workspace}/{self.channel}/{self.thread}"


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    type: str = field(default="text", init=False)


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image the model should see: an https URL or a ``data:`` URL."""

    url: str
    type: str = field(default="image_url", init=False)


@dataclass(frozen=True, slots=True)
class FilePart:
    """An input file for gpt-4o-image (the seed's ``file_url`` part)."""

    url: str
    type: str = field(default="file_url", init=False)


ContentPart = TextPart | ImagePart | FilePart


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that came in with a message, already downloaded by the adapter."""

    name: str
    mime: str
    data: bytes
    source_url: str | None = None
    # Until when (epoch seconds) ``source_url`` is readable without credentials;
    # None: it is not (Slack's url_private), so the bytes are sent instead.
    public_until: float | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one answer, or summed over many.

    ``estimated_tokens``: how many of the total are threadline's estimate rather than
    the server's figure (a stream that reported no usage, a failed or stopped answer):
    for one answer all or none of them; for a sum, the estimated answers' share.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_tokens: int = 0

    @classmethod
    def estimate(cls, prompt_tokens: int, completion_tokens: int) -> Usage:
        return cls(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens)

    @property
    def estimated(self) -> bool:
        return self.estimated_tokens > 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Bucket:
    """A token bucket: ``capacity`` requests at once, refilled at ``per_second``.

    ``scope`` names whose bucket it is (``"user:discord:42"``); the level lives
    in the store, so limits survive a restart.
    """

    scope: str
    capacity: float
    per_second: float

    def level(self, stored: tuple[float, float] | None, now: float) -> float:
        """The tokens in the bucket at ``now``, from a stored (level, at) or full if none."""
        if stored is None:
            return self.capacity
        level, at = stored
        return min(self.capacity, level + max(0.0, now - at) * self.per_second)


def shortfalls(buckets: Sequence[Bucket], levels: Sequence[float]) -> tuple[float, ...]:
    """Seconds until each bucket holds a token again (0.0: it holds one now).

    The stores' ``take_tokens`` call this with the buckets' current levels and,
    when every figure is 0.0, store each level less one.
    """
    return tuple(
        0.0 if level >= 1.0 - 1e-9 else (1.0 - level) / bucket.per_second
        for bucket, level in zip(buckets, levels, strict=True)
    )


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a conversation as threadline stores it.

    ``parts`` holds the non-text content (images, files); ``text`` always holds
    the words, so history stays readable without decoding parts.
    ``tokens`` is the core's estimate of the turn's size in the context window,
    computed once when the turn is stored. ``requester_id`` names the user an
    assistant turn answered (for quotas and ``/usage``); ``reply_to`` is the id of
    the user turn it answers, so history orders every answer right after its
    question even when later questions were stored while it streamed.
    """

    role: Role
    text: str
    author_id: str = ""
    author_name: str = ""
    requester_id: str = ""
    reply_to: int | None = None
    parts: tuple[ContentPart, ...] = ()
    platform_message_id: str | None = None
    reply_message_ids: tuple[str, ...] = ()
    status: TurnStatus = TurnStatus.COMPLETE
    model: str | None = None
    usage: Usage | None = None
    trace_id: str | None = None
    tokens: int = 0
    delivery: Delivery | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class TurnUpdate:
    """The fields of a stored turn that may change; ``None`` leaves a field as it is."""

    text: str | None = None
    status: TurnStatus | None = None
    model: str | None = None
    usage: Usage | None = None
    trace_id: str | None = None
    tokens: int | None = None
    reply_message_ids: tuple[str, ...] | None = None
    parts: tuple[ContentPart, ...] | None = None
    delivery: Delivery | None = None


@dataclass(frozen=True, slots=True)
class ConversationSettings:
    """Per-conversation overrides; ``None`` means "use the configured default".

    ``temperature``, ``max_tokens`` and ``response_format`` ("text" or
    "json_object") are the API parameters ``/settings`` stores (bot/params.py).
    """

    model: str | None = None
    system_prompt: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    response_format: str | None = None


@dataclass(frozen=True, slots=True)
class Params:
    """API parameters asked for one question (``/ask temperature:…``, ``--json``);
    ``None`` falls back to the conversation's settings, then the configured default.
    ``n`` is per question only: how many candidates to show side by side."""

    temperature: float | None = None
    max_tokens: int | None = None
    response_format: str | None = None
    n: int | None = None


@dataclass(frozen=True, slots=True)
class HistoryWindow:
    """The newest turns of a thread that fit a budget, oldest first.

    ``omitted`` counts the older turns (since the last reset) left out.
    """

    turns: tuple[Turn, ...]
    omitted: int


@dataclass(frozen=True, slots=True)
class StoredTurn:
    """A turn together with the conversation it belongs to (used by recovery)."""

    key: ThreadKey
    turn: Turn


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message a platform delivered that threadline should answer."""

    key: ThreadKey
    message_id: str
    author_id: str
    author_name: str
    text: str
    attachments: tuple[Attachment, ...] = ()
    model: str | None = None
    system_prompt: str | None = None
    params: Params = field(default_factory=Params)


def installation_key(record: Mapping[str, object]) -> tuple[str, str, str]:
    """Where a Slack install is kept: enterprise, team and user ids, "" for none."""
    enterprise, team, user = (record.get(name) for name in ("enterprise_id", "team_id", "user_id"))
    return str(enterprise or ""), str(team or ""), str(user or "")
