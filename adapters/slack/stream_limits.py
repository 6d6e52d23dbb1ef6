"""What every native Slack stream of one connection shares: options, Web API tiers.

Rate tiers (https://docs.slack.dev/apis/web-api/rate-limits): chat.appendStream
is Tier 4 (100+/min per app per workspace, shared by every answer: ``AppendPacer``,
first words first); chat.startStream and chat.stopStream are Tier 2 (20+/min).
A stop waits for its turn; an answer that cannot start a stream now uses the
fallback (native.py). ``StreamShared`` holds these per connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from bot.ports import Clock
from bot.shared_budget import SharedBudget
from bot.splitting import MAX_MARKER_CHARS
from bot.streaming import EditScheduler, Rate

__all__ = [
    "CLOSING_RESERVE",
    "ENDED_CODES",
    "MAX_RATE_LIMITED_IN_A_ROW",
    "AppendPacer",
    "StreamOptions",
    "StreamShared",
]

# The stream is over on Slack's side, or this message is full: continue in a new one.
ENDED_CODES = frozenset({"message_not_in_streaming_state", "msg_too_long", "message_not_found"})
CLOSING_RESERVE = MAX_MARKER_CHARS + 1  # room kept for "\n```" when a message rolls over
MAX_RATE_LIMITED_IN_A_ROW = 5


@dataclass(frozen=True, slots=True)
class StreamOptions:
    append_interval: float = 1.0
    appends_per_minute: int = 100
    # chat.startStream and chat.stopStream are Tier 2 (20+ per minute each).
    starts_per_minute: int = 20
    stops_per_minute: int = 20
    rollover_after: float = 270.0
    max_chars: int = 12_000


class AppendPacer:
    """Spaces appendStream calls across every answer of the connection.

    Tier 4 is "100+ per minute" with short bursts tolerated: calls reserve
    their times in arrival order (GCRA, the virtual-scheduling form of a token
    bucket), one every ``60 / per_minute`` s on average and at most ``burst``
    at once. Progress appends leave ``reserve`` of the burst to first words, so
    an answer's first words never queue behind other answers' progress (as the
    edit scheduler keeps each window's last request for posts and final edits).
    """

    def __init__(
        self,
        per_minute: int,
        clock: Clock,
        *,
        burst: int = 20,
        reserve: int = 15,
        margin: float = 0.0,
        shared: SharedBudget | None = None,
        method: str = "",
    ) -> None:
        # Several workers: each call is also taken from the workspace's shared minute.
        self._shared, self._method = shared, method
        self._rate = Rate(max(1, per_minute), 60.0)
        self._gap = 60.0 / max(1, per_minute) * (1.0 + margin)
        self._clock = clock
        self._burst = max(1, burst)
        self._reserve = max(0, min(reserve, self._burst - 1))
        self._due = float("-inf")  # when the next call would go at the steady rate

    def try_take(self) -> bool:
        """Take a call's slot if one is free now (without waiting)."""
        now = self._clock.monotonic()
        if self._due - (self._burst - 1) * self._gap > now:
            return False
        self._due = max(self._due, now) + self._gap
        return True

    def wait(self, *, first_words: bool = False) -> float:
        """Seconds until ``take`` would go without waiting."""
        early = self._burst - 1 - (0 if first_words else self._reserve)
        return max(0.0, self._due - early * self._gap - self._clock.monotonic())

    async def take(self, *, first_words: bool = False) -> None:
        now = self._clock.monotonic()
        early = self._burst - 1 - (0 if first_words else self._reserve)
        at = max(now, self._due - early * self._gap)
        self._due = max(self._due, at) + self._gap
        if at > now:
            await self._clock.sleep(at - now)
        if self._shared is not None:
            await self._shared.take(self._method, self._rate, self._clock)


class StreamShared:
    """What native answers share on one connection: client, budgets, pacers, senders."""

    def __init__(
        self,
        client: AsyncWebClient,
        scheduler: EditScheduler,
        options: StreamOptions,
        clock: Clock,
        *,
        enabled: bool = True,
    ) -> None:
        self.client = client
        self.scheduler = scheduler
        self.options = options
        self.clock = clock
        shared = scheduler.shared
        self.pacer = AppendPacer(
            options.appends_per_minute, clock, shared=shared, method="chat.appendStream"
        )
        # A stream opens only if Slack would take it now (else the answer uses the
        # fallback at once, rather than after a 429); a stop waits for its turn.
        # Paced at exactly Slack's rate, a call that reached Slack late made the next
        # one look early: one 429 on stopStream in some runs of bench/e2e.py at 20
        # conversations. 5 % under the rate leaves room for that jitter.
        self.starts = AppendPacer(options.starts_per_minute, clock, reserve=0, margin=0.05)
        self.stops = AppendPacer(
            options.stops_per_minute,
            clock,
            reserve=0,
            margin=0.05,
            shared=shared,
            method="chat.stopStream",
        )
        self.available = enabled  # False once Slack refused startStream to this app
        self._senders: set[asyncio.Task[None]] = set()

    def track(self, sender: asyncio.Task[None]) -> None:
        self._senders.add(sender)
        sender.add_done_callback(self._senders.discard)

    async def close(self) -> None:
        """Cancel the senders of answers that were never finished (a crashed answer)."""
        for sender in list(self._senders):
            sender.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
