"""Slack's limits, as numbers the fake enforces, and the rate limiter that enforces them.

Every default below cites where it comes from. Tests shrink them (see
:meth:`SlackLimits.fast`) so that a 429 or an expired stream takes milliseconds.

Sources:

- Rate-limit tiers: https://docs.slack.dev/apis/web-api/rate-limits — "Tier 1: 1+ per
  minute, Tier 2: 20+, Tier 3: 50+, Tier 4: 100+", evaluated "per API method per app
  per workspace"; "Posting messages: 1 per second, short bursts >1 allowed" per channel.
  A 429 carries ``Retry-After`` (seconds) and the body ``{"ok": false, "error":
  "ratelimited"}``.
- Non-Marketplace apps, conversations.history/replies (changelog 2025-05-29,
  https://docs.slack.dev/changelog/2025/05/29/rate-limit-changes-for-non-marketplace-apps):
  1 request per minute and at most 15 messages per call.
- Text: chat.postMessage truncates ``text`` at 40,000 characters, yet ``msg_too_long`` is
  seen near 4,000 in practice (threadline ARCHITECTURE.md, platform facts);
  ``markdown_text`` and the ``markdown`` block take 12,000 (chat.postMessage and
  chat.startStream argument docs); at most 50 blocks per message (Block Kit docs).
- Streams: chat.startStream / appendStream / stopStream method docs; a streamed
  message stops accepting appends about 5 minutes after it started (integrators
  measured ~306 s; appends do not extend it), then answers
  ``message_not_in_streaming_state``.
- Acknowledgement: Events API and Socket Mode want an ack within 3 seconds, else Slack
  retries up to 3 times (https://docs.slack.dev/apis/events-api/#retries).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["RateLimit", "RateLimiter", "SlackLimits"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: ``burst`` calls at once, then one call every ``interval`` seconds."""

    burst: int
    interval: float

    @classmethod
    def per_minute(cls, calls: int) -> RateLimit:
        """Slack's tiers are stated per minute; a bucket of ``calls`` refilled over 60 s."""
        return cls(burst=calls, interval=60.0 / calls)


# https://docs.slack.dev/apis/web-api/rate-limits (tier table).
TIER_1 = RateLimit.per_minute(1)
TIER_2 = RateLimit.per_minute(20)
TIER_3 = RateLimit.per_minute(50)
TIER_4 = RateLimit.per_minute(100)
# "chat.postMessage generally allows posting one message per second per channel" with
# "short bursts >1 allowed"; the burst size is not published, 5 is a guess.
POST_PER_CHANNEL = RateLimit(burst=5, interval=1.0)
# apps.connections.open is Tier 1 (slack_sdk socket_mode/async_client.py says so too), but
# "a small amount of burst behavior is tolerated" and an app may hold up to 10 Socket
# Mode connections, so reconnects in a burst are allowed here.
CONNECTIONS_OPEN = RateLimit(burst=10, interval=60.0)
# Non-Marketplace conversations.replies: 1 per minute (changelog 2025-05-29).
NON_MARKETPLACE_HISTORY = RateLimit(burst=1, interval=60.0)


def _default_method_limits() -> dict[str, RateLimit]:
    """Tier per method, from the "Facts" box of each method's reference page.

    The assistant.threads.* tier is not stated in the stored docs; Tier 4 is assumed.
    """
    return {
        "auth.test": TIER_4,  # "Special" tier in the docs; generous in practice.
        "chat.postMessage": POST_PER_CHANNEL,  # keyed per channel, see RateLimiter
        "chat.update": TIER_3,
        "chat.delete": TIER_3,
        "chat.postEphemeral": TIER_4,
        "chat.startStream": TIER_2,
        "chat.appendStream": TIER_4,
        "chat.stopStream": TIER_2,
        "conversations.replies": NON_MARKETPLACE_HISTORY,
        "conversations.history": NON_MARKETPLACE_HISTORY,
        "conversations.info": TIER_3,
        "users.info": TIER_4,
        "files.getUploadURLExternal": TIER_4,
        "files.completeUploadExternal": TIER_4,
        "assistant.threads.setStatus": TIER_4,
        "assistant.threads.setTitle": TIER_4,
        "assistant.threads.setSuggestedPrompts": TIER_4,
        "reactions.add": TIER_3,
        "apps.connections.open": CONNECTIONS_OPEN,
    }


# Methods whose budget is per channel rather than per workspace.
PER_CHANNEL_METHODS = frozenset({"chat.postMessage"})


@dataclass(frozen=True, slots=True)
class SlackLimits:
    """Every limit the fake enforces; all of them can be changed per fake."""

    text_max_chars: int = 4_000
    markdown_max_chars: int = 12_000
    blocks_max: int = 50
    replies_max_messages: int = 15
    stream_max_age: float = 300.0
    method_limits: dict[str, RateLimit] = field(default_factory=_default_method_limits)
    # Events delivery (both modes).
    ack_timeout: float = 3.0
    max_retries: int = 3
    # Events API over HTTP retries "nearly immediately, then after 1 minute, then after
    # 5 minutes" (events-api docs, "Retries"); Socket Mode redelivers after ack_timeout.
    http_retry_delays: tuple[float, ...] = (0.0, 60.0, 300.0)
    # How long after a "disconnect" message the fake closes the old socket
    # (Slack warns about 10 s ahead of a "warning" disconnect; refreshes are quicker).
    disconnect_grace: float = 1.0

    def with_method_limit(self, method: str, limit: RateLimit) -> SlackLimits:
        """A copy with one method's rate limit replaced."""
        return replace(self, method_limits={**self.method_limits, method: limit})

    @classmethod
    def fast(cls, **changes: Any) -> SlackLimits:
        """Limits for tests: the same shapes, short clocks (2 s streams, 0.5 s acks)."""
        base = cls(
            stream_max_age=2.0,
            ack_timeout=0.5,
            http_retry_delays=(0.0, 0.0, 0.0),
            disconnect_grace=0.2,
        )
        return replace(base, **changes)


class RateLimiter:
    """Token buckets keyed by (method, scope); answers how long to wait when empty."""

    def __init__(self, limits: SlackLimits, clock: Callable[[], float] = time.monotonic):
        self._limits = limits
        self._clock = clock
        # key -> (tokens, last refill time)
        self._buckets: dict[tuple[str, str, str], tuple[float, float]] = {}

    def acquire(self, method: str, channel: str | None = None, workspace: str = "") -> int | None:
        """Take one call from the method's budget in ``workspace`` (Slack evaluates
        tiers "per API method per app per workspace"; chat.postMessage per channel).

        Returns ``None`` when the call may proceed, else the ``Retry-After`` value in
        whole seconds (at least 1, as Slack sends integers).
        """
        limit = self._limits.method_limits.get(method)
        if limit is None:
            return None
        key = self._key(method, channel, workspace)
        now = self._clock()
        tokens, last = self._buckets.get(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - last) / limit.interval)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        wait = (1.0 - tokens) * limit.interval
        return max(1, math.ceil(wait))

    def exhaust(self, method: str, channel: str | None = None, workspace: str = "") -> None:
        """Use up the method's budget now, as another process with the app's token would."""
        self._buckets[self._key(method, channel, workspace)] = (0.0, self._clock())

    @staticmethod
    def _key(method: str, channel: str | None, workspace: str) -> tuple[str, str, str]:
        scope = (channel or "") if method in PER_CHANNEL_METHODS else ""
        return (method, workspace, scope)
