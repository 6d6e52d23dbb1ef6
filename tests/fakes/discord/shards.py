"""Sharding, as the fake's gateway applies it.

https://discord.com/developers/docs/events/gateway#sharding

- A guild's events go to shard ``(guild_id >> 22) % num_shards``; direct
  messages only to shard 0 ("Sharding for Large Bots": "DMs will only be
  sent to shard 0").
- ``GET /gateway/bot`` says how many shards to run (``shards``) and the
  session start limit: ``total``, ``remaining``, ``reset_after`` (ms) and
  ``max_concurrency``, "the number of identify requests allowed per 5 seconds".
- Shards whose ``rate_limit_key = shard_id % max_concurrency`` is the same
  share one bucket: one IDENTIFY per bucket per 5 s. "If you hit this limit,
  the Gateway will respond with an Invalid Session (opcode 9)" (gateway#rate-limiting).
  The fake counts ``identify_too_fast`` and, with ``refuse_fast_identify``,
  answers op 9 (not resumable).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .config import FakeConfig

# session_start_limit.reset_after: the daily window, in milliseconds.
SESSION_START_WINDOW_MS = 24 * 3600 * 1000


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard a guild's events go to; DMs (no guild) go to shard 0."""
    if guild_id is None:
        return 0
    return (guild_id >> 22) % shard_count


class IdentifyGate:
    """Admits IDENTIFYs by the max_concurrency buckets and the daily session starts.

    Measured on the real monotonic clock: discord.py waits real seconds
    (``before_identify_hook``), and so does Discord.
    """

    def __init__(self, config: FakeConfig, now: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._now = now
        self._last: dict[int, float] = {}  # rate_limit_key -> when it last identified
        self.started = 0  # sessions started (IDENTIFYs admitted)

    def admit(self, shard_id: int) -> bool:
        """Count an IDENTIFY of ``shard_id``; False when its bucket was still busy
        (then it starts a session only if the fake does not refuse it)."""
        key = shard_id % self._config.max_concurrency
        now = self._now()
        last = self._last.get(key)
        if last is not None and now - last < self._config.identify_interval:
            if not self._config.refuse_fast_identify:
                self.started += 1
            return False
        self._last[key] = now
        self.started += 1
        return True

    def session_start_limit(self) -> dict[str, int]:
        total = self._config.session_start_total
        return {
            "total": total,
            "remaining": max(0, total - self.started),
            "reset_after": SESSION_START_WINDOW_MS,
            "max_concurrency": self._config.max_concurrency,
        }
