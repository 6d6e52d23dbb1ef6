"""State several workers must agree on, behind one port; in-process by default.

One process needs no server: ``InProcessCoordination`` keeps everything in
memory. Several workers share a Redis/Valkey server (``storage.redis``), so
that every worker spends the same platform budgets, answers a delivery once,
takes one thread's questions in order, and hears Stop wherever the answer
streams. Both implementations pass one contract suite
(``tests/contracts/test_coordination.py``).

The primitives, and what threadline builds on them:

- ``take_rate``: a sliding-window budget, "at most ``count`` in any
  ``per_seconds``" (Discord's global 50/s per bot, Slack's per-workspace method
  tiers, Discord's IDENTIFY ``max_concurrency`` per 5 s);
- ``first_sighting``: de-duplication (Slack retries, ``message`` + ``app_mention``);
- ``try_lock`` / ``renew_lock`` / ``unlock``: one owner at a time with a lease,
  so a dead worker's lock expires by itself;
- ``enter`` / ``leave``: counted, leased memberships (answers in flight);
- ``request_stop`` / ``stop_requested``: Stop reaching the worker that streams.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class Coordination(Protocol):
    """Shared budgets, de-duplication, leased locks, in-flight counts and Stop.

    Contract (every implementation; keys are opaque strings the callers build):

    - ``take_rate(key, count, per_seconds)`` counts one request and returns 0.0
      if fewer than ``count`` were counted in the last ``per_seconds``; otherwise
      it counts nothing and returns the seconds until one may go. Windows slide.
    - ``first_sighting(key, ttl)`` is True for the first caller within ``ttl``
      seconds and False for every later one (across workers).
    - ``try_lock(key, owner, lease)`` takes a free or expired lock for ``owner``
      for ``lease`` seconds, or renews it if ``owner`` holds it; True if held.
      ``renew_lock`` extends only a lock ``owner`` still holds (False if lost);
      ``unlock`` releases only ``owner``'s lock.
    - ``enter(key, member, limit, lease)`` adds ``member`` to the set at ``key``
      when it holds fewer than ``limit`` live members (``limit`` 0: no limit) and
      returns True; a member not renewed (by entering again) within ``lease``
      seconds no longer counts. ``leave`` removes it; ``members`` counts the live ones.
    - ``request_stop(key, ttl)`` marks ``key`` stopped for ``ttl`` seconds;
      ``stop_requested(key)`` says whether it is.
    """

    async def take_rate(self, key: str, count: int, per_seconds: float) -> float: ...

    async def first_sighting(self, key: str, ttl: float) -> bool: ...

    async def try_lock(self, key: str, owner: str, lease: float) -> bool: ...

    async def renew_lock(self, key: str, owner: str, lease: float) -> bool: ...

    async def unlock(self, key: str, owner: str) -> None: ...

    async def enter(self, key: str, member: str, limit: int, lease: float) -> bool: ...

    async def leave(self, key: str, member: str) -> None: ...

    async def members(self, key: str) -> int: ...

    async def request_stop(self, key: str, ttl: float) -> None: ...

    async def stop_requested(self, key: str) -> bool: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Lock:
    owner: str
    until: float


@dataclass(slots=True)
class InProcessCoordination:
    """The default: one process's memory. Expired entries are swept as they are met."""

    now: Callable[[], float] = time.monotonic
    _windows: dict[str, deque[float]] = field(default_factory=dict)
    _seen: dict[str, float] = field(default_factory=dict)
    _locks: dict[str, _Lock] = field(default_factory=dict)
    _sets: dict[str, dict[str, float]] = field(default_factory=dict)
    _stops: dict[str, float] = field(default_factory=dict)

    async def take_rate(self, key: str, count: int, per_seconds: float) -> float:
        now = self.now()
        window = self._windows.setdefault(key, deque())
        while window and window[0] <= now - per_seconds:
            window.popleft()
        if len(window) < count:
            window.append(now)
            return 0.0
        return window[len(window) - count] + per_seconds - now

    async def first_sighting(self, key: str, ttl: float) -> bool:
        now = self.now()
        if len(self._seen) > 4096:
            self._seen = {k: until for k, until in self._seen.items() if until > now}
        if self._seen.get(key, 0.0) > now:
            return False
        self._seen[key] = now + ttl
        return True

    async def try_lock(self, key: str, owner: str, lease: float) -> bool:
        now = self.now()
        held = self._locks.get(key)
        if held is not None and held.until > now and held.owner != owner:
            return False
        self._locks[key] = _Lock(owner, now + lease)
        return True

    async def renew_lock(self, key: str, owner: str, lease: float) -> bool:
        now = self.now()
        held = self._locks.get(key)
        if held is None or held.owner != owner or held.until <= now:
            return False
        held.until = now + lease
        return True

    async def unlock(self, key: str, owner: str) -> None:
        held = self._locks.get(key)
        if held is not None and held.owner == owner:
            del self._locks[key]

    async def enter(self, key: str, member: str, limit: int, lease: float) -> bool:
        live = self._live(key)
        if member not in live and limit and len(live) >= limit:
            return False
        live[member] = self.now() + lease
        return True

    async def leave(self, key: str, member: str) -> None:
        live = self._sets.get(key)
        if live is not None:
            live.pop(member, None)
            if not live:
                del self._sets[key]

    async def members(self, key: str) -> int:
        return len(self._live(key))

    async def request_stop(self, key: str, ttl: float) -> None:
        self._stops[key] = self.now() + ttl

    async def stop_requested(self, key: str) -> bool:
        until = self._stops.get(key)
        if until is None:
            return False
        if until <= self.now():
            del self._stops[key]
            return False
        return True

    async def close(self) -> None:
        return None

    def _live(self, key: str) -> dict[str, float]:
        now = self.now()
        live = self._sets.setdefault(key, {})
        for member in [m for m, until in live.items() if until <= now]:
            del live[member]
        return live
