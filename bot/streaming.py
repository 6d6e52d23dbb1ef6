"""Streamed replies: post, then edit as tokens arrive, under one shared budget.

Every chat platform punishes a bot that edits too fast, and its limits are per
channel and per bot, not per reply. So replies do not sleep on timers of their
own: each ``StreamedReply`` only marks its message "dirty", and one
``EditScheduler`` per platform connection decides what to send next:

- a message's text is taken when it is sent, so pending edits coalesce (only
  the newest text of a message matters) and a token costs a string append;
- first posts, first words and final edits go before intermediate edits;
  among those, the message updated longest ago goes first (fair across replies);
- budgets are sliding windows (at most N requests in any T seconds), the
  strictest reading of a platform's "N per T", so neither a fixed nor a sliding
  window on the platform's side is exceeded; a 429 pauses the bucket it names
  for ``retry_after`` and the edit is sent again later: nothing is lost.

A reply that outgrows the platform's limit continues in a new message, split
by ``bot.splitting`` (paragraph, line, word; code fences closed and reopened).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

from bot import wording
from bot.errors import NotDelivered, PlatformRateLimited, ThreadlineError
from bot.ports import Clock, MessageRef, PostedListener, ReplyTarget, SystemClock
from bot.shared_budget import SharedBudget
from bot.splitting import MIN_LIMIT, Fence, balance_fences, take_first

log = logging.getLogger(__name__)
T = TypeVar("T")
# True inside a request the scheduler already counted (see ``EditScheduler.count``).
_COUNTED: ContextVar[bool] = ContextVar("threadline_counted", default=False)


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``count`` requests in any ``per_seconds`` window."""

    count: int
    per_seconds: float


@dataclass(frozen=True, slots=True)
class BudgetPlan:
    """The budgets a platform connection spends. ``None`` means "no such limit".

    ``channel`` and ``overall`` count posts and edits alike; ``channel_posts``
    and ``overall_edits`` count only posts or only edits (Slack's separate
    ``chat.postMessage`` and ``chat.update`` tiers). ``margin`` widens every
    window a little so network jitter cannot squeeze N+1 requests into one.
    """

    channel: Rate | None = None
    overall: Rate | None = None
    channel_posts: Rate | None = None
    overall_edits: Rate | None = None
    margin: float = 0.01


# Discord: the per-channel message bucket is undocumented; observed limit 5 per
# 5 s (X-RateLimit-Limit: 5, Reset-After: 5). Global: 50 requests/s per bot
# (https://discord.com/developers/docs/topics/rate-limits#global-rate-limit).
# threadline spends 4 of the 5: the request that empties a bucket (X-RateLimit-
# Remaining: 0) does not return until the bucket resets (discord.py's
# ``Ratelimit.__aexit__`` sleeps it out in the caller). When that was an answer's
# final edit, the text was shown at once but the answer held its reply slot, and
# the thread's next question, up to 5 s longer (bench/workers.py: 4 s per answer).
DISCORD_CHANNEL_RATE = Rate(4, 5.0)
DISCORD_BUDGET = BudgetPlan(channel=DISCORD_CHANNEL_RATE, overall=Rate(50, 1.0))

# Slack: chat.postMessage "1 per second per channel, short bursts allowed"
# (https://api.slack.com/methods/chat.postMessage#rate_limiting); chat.update is
# Tier 3, 50+ per minute per app per workspace (https://api.slack.com/methods/chat.update).
SLACK_BUDGET = BudgetPlan(channel_posts=Rate(1, 1.0), overall_edits=Rate(50, 60.0))

# A window this long (Slack's minute) cannot be waited out by a final edit: its
# intermediate edits leave a request for every message still owing its final.
LONG_WINDOW = 10.0

# No limits at all: terminals and tests that are not about budgets.
UNLIMITED = BudgetPlan()


class _Window:
    """A sliding-window log: when may the next request go?

    A request is counted from when its response came back, not from when it was
    sent: the platform saw it somewhere in between, so if request n waits until
    request n-N *completed* plus the window, no N+1 requests can ever land in one
    window on the platform's side, whatever the network latency.
    """

    __slots__ = (
        "_done",
        "blocked_until",
        "long",
        "name",
        "paced_until",
        "rate",
        "shared",
        "span",
    )

    def __init__(self, rate: Rate, margin: float, *, shared: bool, name: str = "") -> None:
        self.rate = rate
        self.shared = shared  # spent by every channel (the bot's or workspace's budget)
        self.name = name  # the plan's name for it (``overall``, ``overall_edits``)
        self.span = rate.per_seconds + margin
        self._done: deque[list[float]] = deque(maxlen=rate.count)
        self.blocked_until = 0.0
        self.paced_until = 0.0  # intermediate edits: spread at the sustained rate
        # Too long for a final edit to wait out (Slack's minute of chat.update): its
        # intermediate edits keep a reserve for finals and go at the sustained rate.
        self.long = shared and rate.per_seconds >= LONG_WINDOW

    def available_at(self, reserve: int = 0) -> float:
        """When a request may go, leaving ``reserve`` of the window's requests unused
        (never, while the reserve is the whole window)."""
        allowed = self.rate.count - reserve
        if allowed < 1:
            return float("inf")
        done = self._done
        free = done[len(done) - allowed][0] + self.span if len(done) >= allowed else 0.0
        return max(free, self.blocked_until)

    def take(self) -> list[float]:
        """Count a request now; the caller stores its completion time in the cell."""
        cell = [float("inf")]
        self._done.append(cell)
        return cell

    def pace(self, now: float, reserve: int) -> None:
        """An intermediate edit went: the next waits its share of what ``reserve``
        leaves of the window, so that share is spent evenly, never in one burst."""
        self.paced_until = now + self.span / max(1, self.rate.count - reserve)


@dataclass(eq=False)
class _Slot:
    """One platform message of a reply."""

    reply: StreamedReply
    after: _Slot | None
    order: int
    ref: MessageRef | None = None
    sent_text: str | None = None
    frozen_text: str | None = None
    final: bool = False
    dirty: bool = False
    in_flight: bool = False
    shown_words: bool = False
    worded: bool = False  # the scheduler has seen words for this unposted message
    failures: int = 0
    gave_up: bool = False
    urgent_since: float | None = None
    windows: dict[bool, list[_Window]] = field(default_factory=dict)  # by "posting"
    last_sent_at: float = float("-inf")
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def bucket(self) -> str:
        return self.reply.target.bucket

    def ready(self) -> bool:
        """The first message may show a placeholder; a continuation waits for words
        and for the message before it."""
        if self.after is None or self.ref is not None:
            return True
        if self.after.ref is None and not self.after.gave_up:
            return False
        return self.reply.has_words(self)

    def urgent(self) -> bool:
        return self.ref is None or self.final or not self.shown_words


@dataclass
class SchedulerStats:
    posts: int = 0
    edits: int = 0
    rate_limited: int = 0
    failures: int = 0


class EditScheduler:
    """One per platform connection; every reply in flight shares it."""

    MAX_FAILURES = 3

    def __init__(
        self, plan: BudgetPlan, clock: Clock | None = None, *, shared: SharedBudget | None = None
    ) -> None:
        self.plan = plan
        self.clock = clock or SystemClock()
        self.shared = shared
        self.stats = SchedulerStats()
        self._windows: dict[tuple[str, str], _Window] = {}
        self._dirty: dict[_Slot, None] = {}
        self._wordless: set[_Slot] = set()  # answers' first messages not yet showing words
        self._open: set[_Slot] = set()  # messages that still owe their final edit
        self._wake = asyncio.Event()
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
            await self._take_shared(self._bucket_windows(bucket))
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
        if not await self._take_shared(self._bucket_windows(bucket), optional=True):
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
        windows = self._bucket_windows(bucket)
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
            await self.clock.sleep(at - now)

    def _spend_reserve(self, window: _Window, optional: bool, urgent: bool) -> int:
        """What a one-off request leaves of ``window``: a request that must go (a button,
        a library call) keeps at least one request of it, so it never waits forever."""
        if urgent:
            return 0
        reserve = self._reserve(window, optional)
        return reserve if optional else min(reserve, window.rate.count - 1)

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

    async def _take_shared(self, windows: list[_Window], *, optional: bool = False) -> bool:
        """Take this request from the shared windows every worker spends (``SharedBudget``),
        waiting for room; ``optional``: give up instead of waiting (False). A wait also
        holds this process's window back, so it does not send what others have spent."""
        shared = self.shared
        if shared is None:
            return True
        for window in windows:
            if not window.shared:
                continue

            def hold(wait: float, window: _Window = window) -> None:
                until = self.clock.monotonic() + wait
                window.blocked_until = max(window.blocked_until, until)

            if not await shared.take(window.name, window.rate, self.clock, hold, optional=optional):
                return False
        return True

    def _bucket_windows(self, bucket: str | None) -> list[_Window]:
        wanted = [("overall", "", self.plan.overall)]
        if bucket is not None:
            wanted.append(("channel", bucket, self.plan.channel))
        windows = []
        for scope, key, rate in wanted:
            if rate is None:
                continue
            window = self._windows.get((scope, key))
            if window is None:
                window = _Window(rate, self.plan.margin, shared=scope == "overall", name=scope)
                self._windows[(scope, key)] = window
            windows.append(window)
        return windows

    # -- called by replies ---------------------------------------------------------

    def new_slot(self, reply: StreamedReply, after: _Slot | None) -> _Slot:
        slot = _Slot(reply, after, next(self._order))
        if after is None:
            self._wordless.add(slot)
        self._open.add(slot)
        return slot

    def forget(self, slot: _Slot) -> None:
        self._dirty.pop(slot, None)
        self._wordless.discard(slot)
        self._open.discard(slot)

    def mark(self, slot: _Slot) -> None:
        """Note that ``slot`` has newer text; wake the loop only if that changes a choice."""
        changed = not slot.dirty
        if changed:
            slot.dirty = True
            self._dirty[slot] = None
        if slot.urgent_since is None and slot.urgent():
            slot.urgent_since = self.clock.monotonic()
            changed = True
        if not slot.worded and slot.ref is None and slot.reply.has_words(slot):
            slot.worded = True  # a placeholder held back for budget is now first words
            changed = True
        if changed and not self._wake.is_set():
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

    def _pick(self, now: float) -> tuple[_Slot | None, float | None]:
        """The slot to send now, else when to look again.

        Urgent work (posts, first words, final edits) goes first in the order it
        became urgent; then placeholders (a post with no words yet: worth sending
        only when the budget is idle, else the post waits and carries words);
        then intermediate edits, least recently updated first. Each kind leaves
        part of every window to the kinds before it (``_reserve``).
        """
        gate = self._windows.get(("overall", ""))
        if gate is not None and gate.available_at() > now and self._dirty:
            return None, gate.available_at()  # nothing can go before the shared budget frees
        best: _Slot | None = None
        best_key: tuple[int, float, int] | None = None
        next_at: float | None = None
        for slot in self._dirty:
            if slot.in_flight or not slot.ready():
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

    def _windows_for(self, slot: _Slot) -> list[_Window]:
        posting = slot.ref is None
        cached = slot.windows.get(posting)
        if cached is None:
            cached = slot.windows[posting] = self._lookup_windows(slot, posting)
        return cached

    def _lookup_windows(self, slot: _Slot, posting: bool) -> list[_Window]:
        windows = self._bucket_windows(slot.bucket)
        extra = ("channel_posts", slot.bucket) if posting else ("overall_edits", "")
        rate = self.plan.channel_posts if posting else self.plan.overall_edits
        if rate is not None:
            window = self._windows.get(extra)
            if window is None:
                window = _Window(rate, self.plan.margin, shared=not posting, name=extra[0])
                self._windows[extra] = window
            windows.append(window)
        return windows

    def _available_at(self, slot: _Slot, *, cosmetic: bool, urgent: bool = False) -> float:
        windows = self._windows_for(slot)
        if cosmetic and slot.ref is None:
            # A placeholder's words will follow as an edit: where edits have a budget
            # of their own (Slack's chat.update), a placeholder posted while that one
            # is spent would hold the words back; posted later, the post carries them.
            edits = slot.windows.get(False)
            if edits is None:
                edits = slot.windows[False] = self._lookup_windows(slot, posting=False)
            windows = windows + edits
        at = 0.0  # a loop, not max() over a generator: this runs for every dirty slot per look
        for window in windows:
            free = window.available_at(0 if urgent else self._reserve(window, cosmetic))
            if not urgent and window.paced_until > free:
                free = window.paced_until
            if free > at:
                at = free
        return at

    def _reserve(self, window: _Window, cosmetic: bool) -> int:
        """What a request that is not urgent leaves unused of ``window``.

        Urgent work (posts, first words, final edits) may take a window's last
        request. An intermediate edit leaves that one, so an answer that ends
        never waits a window; in a shared window (the bot's, the workspace's) it
        leaves one request for every message still owing its final edit, so the
        answers that end together do not wait behind others' progress (issue 19:
        50 answers ending within 0.1 s met a full second of progress edits and
        waited up to a second). Under that load progress slows (at 50 answers
        Discord's 50/s leaves one edit a second for it); up to half the window
        it does not. In a long window (Slack's minute of chat.update) what the
        reserve leaves is spent at its sustained rate (``_Window.pace``), never
        in one burst.

        A placeholder or the typing indicator is cosmetic: in a shared window it
        also leaves half the window for answers about to start and one request
        for every answer still waiting to show its first words (in a long window,
        on top of the finals' reserve: Slack 50 at once spent its minute of
        chat.update on placeholders' first words, and 36 finals waited 45 s). Under a burst
        (20 mentions at once) the budget goes to words, not to "thinking…" signs
        that push the words a window on.
        """
        if not window.shared:
            return 1
        count = window.rate.count
        finals = min(len(self._open), count)
        if cosmetic:
            waiting = max(count // 2, len(self._wordless))
            # In a long window a placeholder's words would cost an edit of their own.
            return waiting + finals if window.long else max(waiting, finals)
        return max(1, finals)

    def _dispatch(self, slot: _Slot, now: float) -> None:
        slot.dirty = False
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
        slot.in_flight = True
        slot.last_sent_at = now
        send = asyncio.create_task(self._send(slot, text, cells))
        self._sends.add(send)
        send.add_done_callback(self._sends.discard)

    async def _send(self, slot: _Slot, text: str, cells: list[list[float]]) -> None:
        _COUNTED.set(True)  # this task's own context: nothing to reset
        target = slot.reply.target
        again = False
        try:
            await self._take_shared(self._windows_for(slot))
            if slot.ref is None:
                slot.ref = await target.post(text)
                self.stats.posts += 1
                slot.reply.posted()
            else:
                await target.edit(slot.ref, text)
                self.stats.edits += 1
            slot.sent_text = text
            slot.shown_words = slot.shown_words or slot.reply.has_words(slot)
            slot.failures = 0
            slot.gave_up = False  # a later text landed: the message is not lost
            if not slot.urgent():
                slot.urgent_since = None
        except PlatformRateLimited as limited:
            self.stats.rate_limited += 1
            self._pause(slot, limited)
            again = True
        except ThreadlineError as error:
            self.stats.failures += 1
            slot.failures += 1
            log.warning("sending a reply message failed (%s)", type(error).__name__)
            again = slot.failures < self.MAX_FAILURES
            slot.gave_up = not again
        finally:
            slot.in_flight = False
            completed = self.clock.monotonic()
            for cell in cells:
                cell[0] = completed
            self._wake.set()
        if again:
            self.mark(slot)
        else:
            self._settle(slot)

    def _pause(self, slot: _Slot, limited: PlatformRateLimited) -> None:
        """Pause what the 429 names: every overall window, or the slot's channel's.

        When nothing matches (a per-channel 429 where only workspace-wide
        windows exist, or no budget at all), the slot's own windows pause, so a
        429 is never ignored.
        """
        until = self.clock.monotonic() + limited.retry_after
        named = [
            window
            for (scope, bucket), window in self._windows.items()
            if (scope.startswith("overall") if limited.is_global else bucket == slot.bucket)
        ]
        windows = named or self._windows_for(slot)
        if not windows:
            window = self._windows[("channel", slot.bucket)] = _Window(
                Rate(10**6, 1.0), 0.0, shared=False
            )
            slot.windows.clear()
            windows = [window]
        for window in windows:
            window.blocked_until = max(window.blocked_until, until)

    def _settle(self, slot: _Slot) -> None:
        if slot.shown_words or slot.gave_up:
            self._wordless.discard(slot)
        if slot.final and not slot.dirty and not slot.in_flight:
            self._wordless.discard(slot)
            self._open.discard(slot)
            slot.done.set()


class StreamedReply:
    """One answer shown on a chat platform; implements ``bot.ports.ReplySink``.

    ``render`` turns the model's markdown into the platform's text; it is called
    when a message is sent, never per token.
    """

    RENDER_HEADROOM = 0.9  # split the markdown at 90% of the limit: rendering may grow it

    def __init__(
        self,
        target: ReplyTarget,
        scheduler: EditScheduler,
        render: Callable[[str], str],
    ) -> None:
        self.target = target
        self._scheduler = scheduler
        self._render = render
        self._limit = target.limits.max_message_chars
        self._raw_limit = max(MIN_LIMIT, int(self._limit * self.RENDER_HEADROOM))
        self._raw_limit -= len(wording.IN_PROGRESS_MARKER) + 1
        self._tail: list[str] = []
        self._tail_len = 0
        self._fence: Fence | None = None
        self._finished = False
        self._slots: list[_Slot] = []
        self._typing: asyncio.Task[None] | None = None
        self._placeholder = wording.THINKING_PLACEHOLDER
        self.waiting = False  # queued for a slot: the placeholder is news, not cosmetic
        self._listener: PostedListener | None = None

    def report_posted(self, listener: PostedListener) -> None:
        """Tell ``listener`` the ids of this reply's messages as each is posted."""
        self._listener = listener
        if self.posted_ids:
            listener(self.posted_ids)

    @property
    def posted_ids(self) -> tuple[str, ...]:
        return tuple(slot.ref.id for slot in self._slots if slot.ref is not None)

    def posted(self) -> None:
        """Called by the scheduler when one of this reply's messages was posted."""
        if self._listener is not None:
            self._listener(self.posted_ids)

    async def queued(self, sentence: str) -> None:
        """Show ``sentence`` (the answer waits for a slot) as soon as the budget allows;
        ``start`` turns it into the usual placeholder when the answer begins."""
        self._placeholder, self.waiting = sentence, True
        if not self._slots:
            self._slots.append(self._scheduler.new_slot(self, None))
        self._scheduler.mark(self._slots[0])

    async def note(self, sentence: str) -> None:
        """Show ``sentence`` instead of the placeholder until the first words come."""
        if self._slots and not self._tail_len and len(self._slots) == 1:
            self._placeholder = sentence
            self._scheduler.mark(self._slots[0])

    async def start(self) -> None:
        """Show a placeholder at once, and the typing indicator when the budget has room."""
        self._placeholder, self.waiting = wording.THINKING_PLACEHOLDER, False
        if not self._slots:
            self._slots.append(self._scheduler.new_slot(self, None))
        self._scheduler.mark(self._slots[0])
        # In the background: the model is asked at once, not after a round trip.
        self._typing = asyncio.create_task(self._show_typing(), name="typing")

    async def _show_typing(self) -> None:
        with contextlib.suppress(ThreadlineError):  # a missing typing indicator is cosmetic
            await self._scheduler.spend_if_idle(None, self.target.typing)

    async def append(self, text: str) -> None:
        self._tail.append(text)
        self._tail_len += len(text)
        if self._tail_len > self._raw_limit:
            self._freeze_full()
        self._scheduler.mark(self._slots[-1])

    async def finish(self, footer: str = "") -> tuple[str, ...]:
        if not self._slots:
            await self.start()
        if footer:
            self._tail.append(f"\n\n{footer}" if "".join(self._tail).strip() else footer)
        elif not "".join(self._tail).strip() and len(self._slots) == 1:
            self._tail.append(wording.EMPTY_ANSWER)
        self._finished = True
        if self._typing is not None:
            await self._typing  # a request in flight finishes before the answer does
        self._tail_len = sum(map(len, self._tail))
        self._freeze_full()
        last = self._slots[-1]
        last.final = True
        if last.ref is None and not self.has_words(last) and last.after is not None:
            self._scheduler.forget(self._slots.pop())  # only whitespace overflowed
        else:
            self._scheduler.mark(last)
        await asyncio.gather(*(slot.done.wait() for slot in self._slots))
        ids = self.posted_ids
        if any(slot.gave_up for slot in self._slots):
            # The scheduler gave up on a message: the platform does not show the final
            # text. Said, not swallowed, so the answer is not recorded as shown.
            raise NotDelivered(ids)
        return ids

    async def attach(self, name: str, data: bytes, mime: str) -> None:
        """Upload a file into the reply's place, from the same rate budget as the edits."""
        await self._scheduler.spend(
            self.target.bucket, lambda: self.target.upload(name, data, mime)
        )

    # -- called by the scheduler ---------------------------------------------------

    def has_words(self, slot: _Slot) -> bool:
        if slot.frozen_text is not None:
            return True
        return slot is self._slots[-1] and any(part.strip() for part in self._tail)

    def text_for(self, slot: _Slot) -> str:
        """The text ``slot`` should show now."""
        if slot.frozen_text is not None:
            return slot.frozen_text
        markdown = "".join(self._tail)
        if not markdown.strip():
            return self._placeholder
        opener = self._fence.opener if self._fence is not None else ""
        shown = self._render(opener + markdown)
        room = self._limit - len(wording.IN_PROGRESS_MARKER) - 4
        if len(shown) > room and len(markdown) > MIN_LIMIT:
            # Rendering grew the text past the limit (escaping, neutralised mentions):
            # close this message at a raw length that renders small enough.
            self._freeze_full(max(MIN_LIMIT, len(markdown) * room // len(shown)))
            return self._frozen_or(slot, shown[: self._limit])
        if self._finished:
            return shown
        balanced = balance_fences(shown)
        if balanced != shown:
            return f"{balanced}\n{wording.IN_PROGRESS_MARKER.strip()}"
        return shown + wording.IN_PROGRESS_MARKER

    @staticmethod
    def _frozen_or(slot: _Slot, fallback: str) -> str:
        return slot.frozen_text if slot.frozen_text is not None else fallback

    def _freeze_full(self, raw_limit: int | None = None) -> None:
        """Close every full message and continue the text in a new one."""
        raw_limit = raw_limit or self._raw_limit
        while self._tail_len > raw_limit:
            markdown = "".join(self._tail)
            limit = raw_limit
            while True:
                chunk, carry = take_first(markdown, limit, self._fence)
                if carry is None:
                    return
                rendered = self._render(chunk.text)
                if len(rendered) <= self._limit or limit <= MIN_LIMIT:
                    break
                limit = max(MIN_LIMIT, int(limit * 0.8))
            current = self._slots[-1]
            current.frozen_text = rendered
            current.final = True
            self._scheduler.mark(current)
            self._tail, self._tail_len, self._fence = [carry.rest], len(carry.rest), carry.fence
            self._slots.append(self._scheduler.new_slot(self, current))
