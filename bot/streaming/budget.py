"""The rate budget: platform limits as sliding windows, and what each request leaves.

Budgets are sliding windows (at most N requests in any T seconds), the strictest
reading of a platform's "N per T", so neither a fixed nor a sliding window on the
platform's side is exceeded. This module knows nothing of replies or messages:
the scheduler (``bot.streaming.scheduler``) decides what to spend them on.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from bot.ports import Clock
from bot.shared_budget import SharedBudget


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


class Window:
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


def reserve(window: Window, cosmetic: bool, owing_finals: int, wordless: int) -> int:
    """What a request that is not urgent leaves unused of ``window``.

    Urgent work (posts, first words, final edits) may take a window's last
    request. An intermediate edit leaves that one, so an answer that ends
    never waits a window; in a shared window (the bot's, the workspace's) it
    leaves one request for every message still owing its final edit
    (``owing_finals``), so the answers that end together do not wait behind
    others' progress (issue 19: 50 answers ending within 0.1 s met a full second
    of progress edits and waited up to a second). Under that load progress slows
    (at 50 answers Discord's 50/s leaves one edit a second for it); up to half
    the window it does not. In a long window (Slack's minute of chat.update)
    what the reserve leaves is spent at its sustained rate (``Window.pace``),
    never in one burst.

    A placeholder or the typing indicator is cosmetic: in a shared window it
    also leaves half the window for answers about to start and one request
    for every answer still waiting to show its first words (``wordless``; in a
    long window, on top of the finals' reserve: Slack 50 at once spent its minute
    of chat.update on placeholders' first words, and 36 finals waited 45 s).
    Under a burst (20 mentions at once) the budget goes to words, not to
    "thinking…" signs that push the words a window on.
    """
    if not window.shared:
        return 1
    count = window.rate.count
    finals = min(owing_finals, count)
    if cosmetic:
        waiting = max(count // 2, wordless)
        # In a long window a placeholder's words would cost an edit of their own.
        return waiting + finals if window.long else max(waiting, finals)
    return max(1, finals)


class Budget:
    """Every window of one plan, made on first use: overall, per channel, and the
    post-only and edit-only tiers; plus the windows other workers share."""

    def __init__(self, plan: BudgetPlan, clock: Clock, shared: SharedBudget | None) -> None:
        self.plan = plan
        self.clock = clock
        self.shared = shared
        self._windows: dict[tuple[str, str], Window] = {}

    def gate(self) -> Window | None:
        """The overall window, if the plan has one: nothing goes before it frees."""
        return self._windows.get(("overall", ""))

    def for_bucket(self, bucket: str | None) -> list[Window]:
        """The windows any request spends: overall, and ``bucket``'s channel window
        (``bucket`` None: only the overall ones)."""
        wanted = [("overall", "", self.plan.overall)]
        if bucket is not None:
            wanted.append(("channel", bucket, self.plan.channel))
        windows = []
        for scope, key, rate in wanted:
            if rate is None:
                continue
            window = self._windows.get((scope, key))
            if window is None:
                window = Window(rate, self.plan.margin, shared=scope == "overall", name=scope)
                self._windows[(scope, key)] = window
            windows.append(window)
        return windows

    def for_message(self, bucket: str, *, posting: bool) -> list[Window]:
        """The windows a reply's post (``posting``) or edit in ``bucket`` spends."""
        windows = self.for_bucket(bucket)
        extra = ("channel_posts", bucket) if posting else ("overall_edits", "")
        rate = self.plan.channel_posts if posting else self.plan.overall_edits
        if rate is not None:
            window = self._windows.get(extra)
            if window is None:
                window = Window(rate, self.plan.margin, shared=not posting, name=extra[0])
                self._windows[extra] = window
            windows.append(window)
        return windows

    def named(self, *, is_global: bool, bucket: str) -> list[Window]:
        """The windows a 429 names: every overall one, or those of its channel."""
        return [
            window
            for (scope, key), window in self._windows.items()
            if (scope.startswith("overall") if is_global else key == bucket)
        ]

    def stand_in(self, bucket: str) -> Window:
        """A window for a 429 where the plan has none (no budget at all), so the
        pause it asks for is kept."""
        window = self._windows[("channel", bucket)] = Window(Rate(10**6, 1.0), 0.0, shared=False)
        return window

    async def take_shared(self, windows: list[Window], *, optional: bool = False) -> bool:
        """Take this request from the shared windows every worker spends (``SharedBudget``),
        waiting for room; ``optional``: give up instead of waiting (False). A wait also
        holds this process's window back, so it does not send what others have spent."""
        shared = self.shared
        if shared is None:
            return True
        for window in windows:
            if not window.shared:
                continue

            def hold(wait: float, window: Window = window) -> None:
                until = self.clock.monotonic() + wait
                window.blocked_until = max(window.blocked_until, until)

            if not await shared.take(window.name, window.rate, self.clock, hold, optional=optional):
                return False
        return True
