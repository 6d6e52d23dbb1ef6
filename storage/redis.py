"""``Coordination`` on a Redis (or Valkey) server shared by every worker.

Each primitive is one command or one Lua script, so it is atomic however many
workers race for it. Time is the server's (``TIME`` inside the scripts): every
worker measures windows and leases against one clock, whatever their own
clocks say. Keys are ``<prefix><kind>:<key>``, so a lock and a budget that
happen to share a name never meet, and every key expires by itself.
"""

from __future__ import annotations

import math
import uuid
from typing import Any, Self
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, RedisError

from bot import wording
from bot.errors import ConfigError

DEFAULT_PREFIX = "threadline:"

# A sliding-window log: one ZSET entry per request, scored by the server's time in
# microseconds (1.7e15 < 2^53: exact in Lua's doubles). Returns 0 when counted, else
# the microseconds until the oldest entry that matters leaves the window.
_TAKE_RATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local count = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n < count then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return 0
end
local entry = redis.call('ZRANGE', KEYS[1], n - count, n - count, 'WITHSCORES')
return tonumber(entry[2]) + window - now
"""

# Take a free (or expired: Redis dropped it) lock, or renew one's own.
_TRY_LOCK = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RENEW_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0
"""

# A ZSET of members scored by the server time (ms) their lease ends; the key lives
# as long as its longest lease.
_ENTER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if limit > 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1])
   and redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
if redis.call('PTTL', KEYS[1]) < lease then
  redis.call('PEXPIRE', KEYS[1], lease)
end
return 1
"""

_MEMBERS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""


def _ms(seconds: float) -> int:
    """Redis counts milliseconds; a positive duration is never rounded to 0 (no expiry)."""
    return max(1, math.ceil(seconds * 1000))


def where(url: str) -> str:
    """``host:port/db`` of a Redis URL: what a sentence may show (never the password)."""
    parts = urlsplit(url)
    host = parts.hostname or parts.path or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path if parts.hostname else ''}"


class RedisCoordination:
    """The shared ``Coordination``: open with ``await RedisCoordination.connect(url)``."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = prefix
        self._take_rate = client.register_script(_TAKE_RATE)
        self._try_lock = client.register_script(_TRY_LOCK)
        self._renew_lock = client.register_script(_RENEW_LOCK)
        self._unlock = client.register_script(_UNLOCK)
        self._enter = client.register_script(_ENTER)
        self._members = client.register_script(_MEMBERS)

    @classmethod
    async def connect(cls, url: str, *, prefix: str = DEFAULT_PREFIX) -> Self:
        """Connect and check the server answers; one sentence (no password) if it does not."""
        try:
            client: aioredis.Redis = aioredis.Redis.from_url(
                url, socket_connect_timeout=5, health_check_interval=30
            )
        except ValueError:
            problem = wording.setting_problem("REDIS_URL", "", wording.redis_url_not_valid())
            raise ConfigError(wording.settings_not_valid([problem])) from None
        try:
            await client.ping()
        except RedisError as error:
            await client.aclose()
            refused = isinstance(error, AuthenticationError)
            raise ConfigError(wording.redis_unreachable(where(url), refused)) from None
        return cls(client, prefix=prefix)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _key(self, kind: str, key: str) -> str:
        return f"{self._prefix}{kind}:{key}"

    async def take_rate(self, key: str, count: int, per_seconds: float) -> float:
        window = max(1, math.ceil(per_seconds * 1_000_000))
        args: list[Any] = [count, window, uuid.uuid4().hex]
        wait = await self._take_rate(keys=[self._key("rate", key)], args=args)
        return int(wait) / 1_000_000

    async def first_sighting(self, key: str, ttl: float) -> bool:
        done = await self._client.set(self._key("seen", key), 1, nx=True, px=_ms(ttl))
        return bool(done)

    async def try_lock(self, key: str, owner: str, lease: float) -> bool:
        held = await self._try_lock(keys=[self._key("lock", key)], args=[owner, _ms(lease)])
        return bool(held)

    async def renew_lock(self, key: str, owner: str, lease: float) -> bool:
        held = await self._renew_lock(keys=[self._key("lock", key)], args=[owner, _ms(lease)])
        return bool(held)

    async def unlock(self, key: str, owner: str) -> None:
        await self._unlock(keys=[self._key("lock", key)], args=[owner])

    async def enter(self, key: str, member: str, limit: int, lease: float) -> bool:
        args: list[Any] = [member, limit, _ms(lease)]
        entered = await self._enter(keys=[self._key("set", key)], args=args)
        return bool(entered)

    async def leave(self, key: str, member: str) -> None:
        await self._client.zrem(self._key("set", key), member)

    async def members(self, key: str) -> int:
        return int(await self._members(keys=[self._key("set", key)], args=[]))

    async def request_stop(self, key: str, ttl: float) -> None:
        await self._client.set(self._key("stop", key), 1, px=_ms(ttl))

    async def stop_requested(self, key: str) -> bool:
        return bool(await self._client.exists(self._key("stop", key)))

    async def close(self) -> None:
        await self._client.aclose()
