"""The edit scheduler: one per platform connection decides what every reply sends next.

Replies do not sleep on timers of their own: each only marks its message's slot
"dirty", and the scheduler's loop picks what to send within the rate budget
(``bot.streaming.budget``). A slot's text is taken when it is sent, so pending
edits coalesce; a 429 pauses the windows it names and the edit is sent again
later. Requests that are not reply messages (threads, buttons, a platform
library's own calls) are spent from the same budget (``spend``, ``count``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from bot.errors import PlatformRateLimited, ThreadlineError
from bot.ports import Clock, SystemClock
from bot.shared_budget import SharedBudget
from bot.streaming.budget import Budget, BudgetPlan, Window, reserve
from bot.streaming.slot import MAX_FAILURES, PLACEHOLDER, Slot, Writer

log = logging.getLogger(__name__)
T = TypeVar("T")
# True inside a request the scheduler already counted (see ``EditScheduler.count``).
_COUNTED: ContextVar[bool] = ContextVar("threadline_counted", default=False)


@dataclass
class SchedulerStats:
    posts: int = 0
    edits: int = 0
    rate_limited: int = 0
    failures: int = 0


class EditScheduler:
    """One per platform connection; every reply in flight shares it."""

    MAX_FAILURES = MAX_FAILURES

    def __init__(
        self, plan: BudgetPlan, clock: Clock | None = None, *, shared: SharedBudget | None = None
    ) -> None:
        self.plan = plan
        self.clock = clock or SystemClock()
        self.shared = shared
        self.stats = SchedulerStats()
        self._budget = Budget(plan, self.clock, shared)
        self._dirty: dict[Slot, None] = {}  # slots with newer text to send, as a set in order
        self._sending: set[Slot] = set()  # slots with a request in flight
        self._wordless: set[Slot] = set()  # answers' first messages not yet showing words
        self._open: set[Slot] = set()  # messages that still owe their final edit
        self._wake = asyncio.Event()
        self._completed = asyncio.Event()  # a request came back: a window may have room
        self._order = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> EditScheduler:
        self._task = asyncio.create_task(self._run(), name="edit-scheduler")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for send in list(self._sends):
            send.cancel()

    # -- one-off requests ------------------------------------------------------------

    async def spend(
        self, bucket: str | None, call: Callable[[], Awaitable[T]], *, urgent: bool = True
    ) -> T:
        """Run a request that is not a reply's post or edit (a thread, a button) inside
        the same budget, waiting for room, so nothing the bot sends escapes the count.
        ``bucket`` None spends only the overall windows. ``urgent`` (a thread a person
        waits for) may take a window's last request; otherwise (a button under a
        finished answer) it leaves the reserve for first words and final edits."""
        cells = await self._take(bucket, optional=False, urgent=urgent)
        assert cells is not None
        try:
            await self._budget.take_shared(self._budget.for_bucket(bucket))
        except BaseException:
            self._complete(cells)
            raise
        return await self._call_counted(cells, call)

    async def spend_if_idle(self, bucket: str | None, call: Callable[[], Awaitable[T]]) -> T | None:
        """Like ``spend`` for a request worth sending only when the budget has room
        for it and for the first words of every answer still waiting for them
        (typing: cosmetic). Skipped: None."""
        cells = await self._take(bucket, optional=True)
        if cells is None:
            return None
        if not await self._budget.take_shared(self._budget.for_bucket(bucket), optional=True):
            self._complete(cells)
            return None
        return await self._call_counted(cells, call)

    async def count(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call`` inside the overall budget unless it is part of a request the
        scheduler already counted. For a hook under every request a platform library
        makes, so the ones threadline does not send itself (the library's start-up,
        the command sync) are counted too, and threadline's own only once."""
        if _COUNTED.get():
            return await call()
        return await self.spend(None, call, urgent=False)

    async def _take(
        self, bucket: str | None, *, optional: bool, urgent: bool = False
    ) -> list[list[float]] | None:
        windows = self._budget.for_bucket(bucket)
        while True:
            now = self.clock.monotonic()
            at = max(
                (w.available_at(self._spend_reserve(w, optional, urgent)) for w in windows),
                default=0.0,
            )
            if at <= now:
                return [window.take() for window in windows]
            if optional:
                return None
            if at == float("inf"):
                # The request that frees the room is still in flight: its completion
                # says when (a sleep of inf never ends on a real clock).
                self._completed.clear()
                await self._completed.wait()
            else:
                await self.clock.sleep(at - now)

    def _spend_reserve(self, window: Window, optional: bool, urgent: bool) -> int:
        """What a one-off request leaves of ``window``: a request that must go (a button,
        a library call) keeps at least one request of it, so it never waits forever."""
        if urgent:
            return 0
        left = self._reserve(window, optional)
        return left if optional else min(left, window.rate.count - 1)

    async def _call_counted(self, cells: list[list[float]], call: Callable[[], Awaitable[T]]) -> T:
        counted = _COUNTED.set(True)
        try:
            return await call()
        finally:
            _COUNTED.reset(counted)
            self._complete(cells)

    def _complete(self, cells: list[list[float]]) -> None:
        completed = self.clock.monotonic()
        for cell in cells:
            cell[0] = completed
        self._wake.set()
        self._completed.set()

    # -- called by replies ---------------------------------------------------------

    def new_slot(self, reply: Writer, after: Slot | None) -> Slot:
        slot = Slot(reply, after, next(self._order))
        if after is None:
            self._wordless.add(slot)
        self._open.add(slot)
        return slot

    def forget(self, slot: Slot) -> None:
        self._dirty.pop(slot, None)
        self._wordless.discard(slot)
        self._open.discard(slot)

    def mark(self, slot: Slot) -> None:
        """Note that ``slot`` has newer text; wake the loop only if that changes a choice."""
        dirty = self._dirty
        changed = slot not in dirty
        if changed:
            dirty[slot] = None
        if slot.urgent_since is None and slot.urgent():
            slot.urgent_since = self.clock.monotonic()
            changed = True
        if slot.stage is PLACEHOLDER and slot.ref is None and slot.see_words():
            changed = True  # a placeholder held back for budget is now first words
        if changed and not self._wake.is_set():
            self._wake.set()

    def mark_final(self, slot: Slot) -> None:
        """Note that ``slot``'s text is complete: its last send is owed, and urgent."""
        worded = slot.stage is PLACEHOLDER and slot.see_words()
        slot.close()
        self.mark(slot)
        if worded and not self._wake.is_set():
            self._wake.set()

    # -- the loop ------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            now = self.clock.monotonic()
            slot, next_at = self._pick(now)
            if slot is not None:
                self._dispatch(slot, now)
                continue
            timeout = None if next_at is None else max(0.0, next_at - now)
            await self.clock.wait(self._wake, timeout)

    def _pick(self, now: float) -> tuple[Slot | None, float | None]:
        """The slot to send now, else when to look again.

        Urgent work (posts, first words, final edits) goes first in the order it
        became urgent; then placeholders (a post with no words yet: worth sending
        only when the budget is idle, else the post waits and carries words);
        then intermediate edits, least recently updated first. Each kind leaves
        part of every window to the kinds before it (``budget.reserve``).
        """
        gate = self._budget.gate()
        if gate is not None and gate.available_at() > now and self._dirty:
            return None, gate.available_at()  # nothing can go before the shared budget frees
        best: Slot | None = None
        best_key: tuple[int, float, int] | None = None
        next_at: float | None = None
        sending = self._sending
        for slot in self._dirty:
            if slot in sending or not slot.ready():
                continue
            if slot.urgent_since is None:
                key = (2, slot.last_sent_at, slot.order)
            elif not slot.reply.has_words(slot) and not slot.reply.waiting:
                # A placeholder (or "queued" becoming "thinking"): only when idle.
                key = (1, slot.urgent_since, slot.order)
            else:
                key = (0, slot.urgent_since, slot.order)
            at = self._available_at(slot, cosmetic=key[0] == 1, urgent=key[0] == 0)
            if at > now:
                if at != float("inf"):  # a placeholder nobody can afford waits for a change
                    next_at = at if next_at is None else min(next_at, at)
                continue
            if best_key is None or key < best_key:
                best, best_key = slot, key
        return best, next_at

    def _windows_for(self, slot: Slot) -> list[Window]:
        """The windows ``slot``'s next request spends: a post's until it is posted."""
        posting = slot.ref is None
        cached = slot.windows.get(posting)
        if cached is None:
            cached = slot.windows[posting] = self._budget.for_message(slot.bucket, posting=posting)
        return cached

    def _edit_windows(self, slot: Slot) -> list[Window]:
        cached = slot.windows.get(False)
        if cached is None:
            cached = slot.windows[False] = self._budget.for_message(slot.bucket, posting=False)
        return cached

    def _available_at(self, slot: Slot, *, cosmetic: bool, urgent: bool = False) -> float:
        windows = self._windows_for(slot)
        if cosmetic and slot.ref is None:
            # A placeholder's words will follow as an edit: where edits have a budget
            # of their own (Slack's chat.update), a placeholder posted while that one
            # is spent would hold the words back; posted later, the post carries them.
            windows = windows + self._edit_windows(slot)
        at = 0.0  # a loop, not max() over a generator: this runs for every dirty slot per look
        finals, wordless = len(self._open), len(self._wordless)
        for window in windows:
            free = window.available_at(0 if urgent else reserve(window, cosmetic, finals, wordless))
            if not urgent and window.paced_until > free:
                free = window.paced_until
            if free > at:
                at = free
        return at

    def _reserve(self, window: Window, cosmetic: bool) -> int:
        """What a request that is not urgent leaves of ``window`` (``budget.reserve``)."""
        return reserve(window, cosmetic, len(self._open), len(self._wordless))

    def _dispatch(self, slot: Slot, now: float) -> None:
        del self._dirty[slot]
        text = slot.reply.text_for(slot)
        if text == slot.sent_text:
            self._settle(slot)
            return
        windows = self._windows_for(slot)
        cells = [window.take() for window in windows]
        if not slot.urgent():
            for window in windows:
                if window.long:
                    window.pace(now, self._reserve(window, cosmetic=False))
        self._sending.add(slot)
        slot.last_sent_at = now
        send = asyncio.create_task(self._send(slot, text, cells))
        self._sends.add(send)
        send.add_done_callback(self._sends.discard)

    async def _send(self, slot: Slot, text: str, cells: list[list[float]]) -> None:
        _COUNTED.set(True)  # this task's own context: nothing to reset
        again = False
        try:
            await self._budget.take_shared(self._windows_for(slot))
            await self._deliver(slot, text)
        except PlatformRateLimited as limited:
            self.stats.rate_limited += 1
            self._pause(slot, limited)
            again = True
        except ThreadlineError as error:
            self.stats.failures += 1
            slot.failures += 1
            log.warning("sending a reply message failed (%s)", type(error).__name__)
            again = not slot.gave_up
        finally:
            self._sending.discard(slot)
            self._complete(cells)
        if again:
            self.mark(slot)
        else:
            self._settle(slot)

    async def _deliver(self, slot: Slot, text: str) -> None:
        """Post ``slot``'s message (the first time) or edit it to ``text``."""
        target = slot.reply.target
        if slot.ref is None:  # the one place a reply's messages are posted (first, continuations)
            slot.ref = await target.post(text)
            self.stats.posts += 1
            slot.reply.posted()
        else:
            await target.edit(slot.ref, text)
            self.stats.edits += 1
        slot.sent_text = text
        if slot.reply.has_words(slot):
            slot.show_words()
            self._wordless.discard(slot)
        slot.failures = 0  # a later text landed: the message is not lost
        if not slot.urgent():
            slot.urgent_since = None

    def _pause(self, slot: Slot, limited: PlatformRateLimited) -> None:
        """Pause what the 429 names: every overall window, or the slot's channel's.

        When nothing matches (a per-channel 429 where only workspace-wide
        windows exist, or no budget at all), the slot's own windows pause, so a
        429 is never ignored.
        """
        until = self.clock.monotonic() + limited.retry_after
        named = self._budget.named(is_global=limited.is_global, bucket=slot.bucket)
        windows = named or self._windows_for(slot)
        if not windows:
            windows = [self._budget.stand_in(slot.bucket)]
            slot.windows.clear()
        for window in windows:
            window.blocked_until = max(window.blocked_until, until)

    def _settle(self, slot: Slot) -> None:
        if slot.gave_up:
            self._wordless.discard(slot)
        if slot.final and slot not in self._dirty and slot not in self._sending:
            self._wordless.discard(slot)
            self._open.discard(slot)
            slot.end()
