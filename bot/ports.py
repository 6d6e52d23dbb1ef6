"""The seams between the core and its edges.

Adapters implement ``ReplyTarget``; ``storage`` implements ``ConversationStore``;
``bot.upstream`` implements ``CompletionClient``. The core depends on these
Protocols only, so every seam has a real fake in the tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bot.domain import (
        Bucket,
        ConversationSettings,
        HistoryWindow,
        StoredTurn,
        ThreadKey,
        Turn,
        TurnUpdate,
        Usage,
    )
    from bot.upstream.types import ChatDelta, ChatRequest, ChatResult


@dataclass(frozen=True, slots=True)
class PlatformLimits:
    """What one message may hold on a platform (see the table in ARCHITECTURE.md)."""

    max_message_chars: int
    max_upload_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message the bot posted, as the platform names it."""

    channel: str
    id: str


class ReplyTarget(Protocol):
    """One reply in one thread on one platform.

    ``bucket`` names the platform rate-limit bucket the reply's edits share
    (a channel id on both platforms), so one scheduler can pace many replies.
    Methods raise ``bot.errors.PlatformRateLimited`` on a platform 429.
    """

    @property
    def limits(self) -> PlatformLimits: ...

    @property
    def bucket(self) -> str: ...

    async def post(self, text: str) -> MessageRef: ...

    async def edit(self, ref: MessageRef, text: str) -> None: ...

    async def delete(self, ref: MessageRef) -> None: ...

    async def upload(self, name: str, data: bytes, mime: str) -> MessageRef: ...

    async def typing(self) -> None: ...


class CompletionClient(Protocol):
    def stream(self, request: ChatRequest) -> AsyncGenerator[ChatDelta, None]: ...

    async def complete(self, request: ChatRequest) -> ChatResult: ...


class Installations(Protocol):
    """Slack installs by OAuth, kept with the conversations (``ConversationStore``)."""

    async def save_installation(self, record: Mapping[str, object]) -> None: ...

    async def find_installation(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> dict[str, object] | None: ...

    async def delete_installation(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None: ...


class ConversationStore(Installations, Protocol):
    """Thread history, the source of truth for ``messages``.

    Contract (tests/storage/test_contract.py runs it on every implementation):
    - ``add_turn`` returns the stored turn with its ``id``, or ``None`` when a turn
      with the same (platform, ``platform_message_id``) is already stored. Storing
      a turn whose ``reply_to`` names a ``pending`` question marks that question
      ``complete``, in the same write: an answer, in any status, answers it.
    - ``history`` returns the newest turns since the last ``reset`` whose summed
      ``tokens`` fit ``token_budget`` (at most ``max_turns``), oldest first; the
      newest turn is always included; failed turns are left out. Turns are
      ordered by (``reply_to`` or ``id``, ``id``): an answer follows its question.
      ``through`` (a user turn id) leaves out everything ordered after that turn.
    - ``update_texts`` stores the text so far of several ``streaming`` answers at
      once (turn id → text); a turn that is missing or no longer ``streaming`` is
      left alone, so a late flush never overwrites a finished answer.
    - Every turn a store adds records the store's ``worker`` (the process's id; ""
      for none), so several workers can share one database.
    - ``interrupt_streaming`` marks every ``streaming`` turn of ``workers`` on
      ``platforms`` (None: of every worker, on every platform) ``interrupted``, with ``delivery`` ``pending`` (its platform
      repair is owed), in one write, and returns them, for recovery at start-up or
      after a worker died (bot/workers.py).
    - ``open_workers`` names the workers holding a ``streaming`` answer or a
      ``pending`` question. ``adopt_questions`` makes the ``pending`` questions of
      ``workers`` (on ``platforms``, None: every one) this store's worker's, in one write (two heirs never both adopt
      one), and returns those ``unanswered_questions`` would: asked at or after
      ``since`` and after their thread's last reset, oldest first.
    - ``unanswered_questions`` returns the ``pending`` turns created at or after
      ``since`` (epoch seconds) and after their thread's last ``reset``, oldest
      (lowest id) first, each with its thread: the questions a crash or restart
      left without an answer. It changes nothing.
    - ``undelivered_answers`` returns the answers on a platform whose ``delivery`` is
      ``pending`` and that are no longer ``streaming``, oldest first, each with its
      thread: what the platform is still owed (an outage, or a repair a crash cut).
    - ``recent_conversations`` returns each conversation on a platform whose newest
      question (a user turn with a platform message id) was stored at or after
      ``since``, with that message id, oldest first: where to look for messages that
      reached the platform while threadline was down.
    - ``take_tokens`` takes one token from every bucket, or from none, and returns
      each bucket's shortfall: the seconds until it holds a token again, 0.0 if
      it holds one now. All zeros: the tokens were taken. A new bucket is full.
    - ``save_installation`` keeps a Slack install (a JSON-compatible mapping with
      ``enterprise_id``, ``team_id`` and ``user_id``, any of them None) under its
      user and, when it has one, also as its workspace's newest install (user
      None). ``find_installation`` returns a copy of the one saved under exactly
      that enterprise, team and user (None: the workspace's newest), or None.
      ``delete_installation`` removes one user's install, or with no user every
      install of the workspace.
    """

    async def add_turn(self, key: ThreadKey, turn: Turn) -> Turn | None: ...

    async def update_turn(self, turn_id: int, update: TurnUpdate) -> None: ...

    async def update_texts(self, texts: Mapping[int, str]) -> None: ...

    async def get_turn(self, turn_id: int) -> Turn | None: ...

    async def history(
        self, key: ThreadKey, *, token_budget: int, max_turns: int, through: int | None = None
    ) -> HistoryWindow: ...

    async def find_by_message(self, platform: str, message_id: str) -> StoredTurn | None: ...

    async def edit_message(
        self, platform: str, message_id: str, text: str, tokens: int
    ) -> bool: ...

    async def delete_message(self, platform: str, message_id: str) -> bool: ...

    async def has_conversation(self, key: ThreadKey) -> bool: ...

    async def settings(self, key: ThreadKey) -> ConversationSettings: ...

    async def save_settings(self, key: ThreadKey, settings: ConversationSettings) -> None: ...

    async def reset(self, key: ThreadKey) -> None: ...

    @property
    def worker(self) -> str: ...

    async def interrupt_streaming(
        self, workers: Collection[str] | None = None, *, platforms: Collection[str] | None = None
    ) -> list[StoredTurn]: ...

    async def open_workers(self) -> list[str]: ...

    async def adopt_questions(
        self,
        workers: Collection[str],
        *,
        since: float,
        platforms: Collection[str] | None = None,
    ) -> list[StoredTurn]: ...

    async def unanswered_questions(self, *, since: float) -> list[StoredTurn]: ...

    async def undelivered_answers(self, platform: str) -> list[StoredTurn]: ...

    async def recent_conversations(
        self, platform: str, *, since: float
    ) -> list[tuple[ThreadKey, str]]: ...

    async def usage_since(
        self,
        since: float,
        *,
        platform: str,
        workspace: str | None = None,
        channel: str | None = None,
        requester_id: str | None = None,
    ) -> Usage: ...

    async def take_tokens(self, buckets: Sequence[Bucket], *, now: float) -> tuple[float, ...]: ...

    async def close(self) -> None: ...


class ReplySink(Protocol):
    """Where one answer goes as it is written: a streamed chat reply, a terminal.

    ``finish`` ends the answer with an optional footer (notices, an error
    sentence), waits until every part is shown, and returns the platform ids of
    the messages that hold it.
    """

    async def start(self) -> None: ...

    async def append(self, text: str) -> None: ...

    async def finish(self, footer: str = "") -> tuple[str, ...]: ...

    async def attach(self, name: str, data: bytes, mime: str) -> None:
        """Show a file (an image the model made) with the answer, before ``finish``.

        Raises ``ThreadlineError`` when the platform refuses it.
        """
        ...


# Called with the ids of every message an answer has posted so far, each time one
# more is posted: synchronous, so a sink never waits on the database.
PostedListener = Callable[[tuple[str, ...]], None]


@runtime_checkable
class ReportingSink(Protocol):
    """A sink that says where its answer lives as its messages appear.

    The core stores the answer turn before ``start`` and listens here, so the turn
    names its messages from the first post on: a crash while the model thinks or
    writes leaves an answer the next start can find and finish (bot/delivery.py).
    """

    def report_posted(self, listener: PostedListener) -> None:
        """From now on, call ``listener`` with every posted message id (in order)."""
        ...


@runtime_checkable
class AcceptingSink(Protocol):
    """A sink whose platform shows that a question was taken once it is stored."""

    async def question_stored(self) -> None:
        """The question is stored (and is no duplicate): a new mention's Discord thread
        opens now, before the answer waits its turn, as it did when it opened first."""
        ...


@runtime_checkable
class QueueingSink(Protocol):
    """A sink that can show, where its answer will be, why there is no answer yet."""

    async def queued(self, sentence: str) -> None:
        """Before ``start``: show ``sentence`` (the answer waits for a slot); ``start``
        replaces it."""
        ...

    async def note(self, sentence: str) -> None:
        """After ``start``, while the answer has no words: show ``sentence`` in place of
        the placeholder (the model is slow to begin); the first words replace it."""
        ...


class ImageBlobs(Protocol):
    """Where image bytes live (``storage.ImageStore``); parts hold its references."""

    async def put(self, data: bytes, mime: str) -> str: ...

    async def get(self, reference: str) -> tuple[bytes, str] | None: ...


class Clock(Protocol):
    """Time, injectable so streaming and retry logic are tested without sleeping."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    async def wait(self, event: asyncio.Event, timeout: float | None) -> bool:
        """Wait for ``event`` at most ``timeout`` seconds (None: forever); True if set."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait(self, event: asyncio.Event, timeout: float | None) -> bool:
        if event.is_set():
            return True
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return False
        return True
