"""The ``Coordination`` contract (bot/coordination.py), one sentence of its docstring at a
time, against every implementation: in process, and Redis (a real redis-server).

Leases and windows are short and real (0.2 s): the Redis server's own clock runs
them. A test waits past an expiry, never asserts how fast anything went, and
asserts that something still holds only with leases far longer than the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from bot.coordination import Coordination, InProcessCoordination
from bot.errors import ConfigError
from storage.redis import RedisCoordination

SHORT = 0.2  # a lease or ttl the test waits out
PAST = 0.35  # long enough to be past SHORT
LONG = 60.0  # a lease the test never waits out


@pytest.fixture(params=["in-process", "redis"])
async def coordination(
    request: pytest.FixtureRequest, redis_url: str
) -> AsyncIterator[Coordination]:
    if request.param == "in-process":
        yield InProcessCoordination()
        return
    # Each test has keys of its own on the session's server.
    async with await RedisCoordination.connect(redis_url, prefix=_prefix()) as shared:
        yield shared


def _prefix() -> str:
    return f"test-{uuid.uuid4().hex}:"


# -- take_rate ------------------------------------------------------------------------


async def test_take_rate_counts_up_to_count_then_says_how_long_to_wait(
    coordination: Coordination,
) -> None:
    assert [await coordination.take_rate("discord:global", 3, LONG) for _ in range(3)] == [0.0] * 3
    wait = await coordination.take_rate("discord:global", 3, LONG)
    assert 0 < wait <= LONG
    assert await coordination.take_rate("slack:T0123:chat.update", 3, LONG) == 0.0  # another key


async def test_take_rate_counts_nothing_when_it_refuses(coordination: Coordination) -> None:
    per = 0.6
    assert await coordination.take_rate("k", 1, per) == 0.0
    await asyncio.sleep(0.3)  # refusals counted now would still count when the first left
    wait = await coordination.take_rate("k", 1, per)
    for _ in range(5):
        assert await coordination.take_rate("k", 1, per) > 0
    await asyncio.sleep(wait + 0.02)
    assert await coordination.take_rate("k", 1, per) == 0.0


async def test_take_rate_windows_slide(coordination: Coordination) -> None:
    """The wait is until the oldest counted request leaves the window, and then only
    one more may go: the later one still counts (a fixed window would let two go)."""
    per = 1.0
    assert await coordination.take_rate("k", 2, per) == 0.0
    first_done = time.monotonic()
    await asyncio.sleep(0.4)
    assert await coordination.take_rate("k", 2, per) == 0.0
    asked = time.monotonic()
    wait = await coordination.take_rate("k", 2, per)
    assert 0 < wait <= per - (asked - first_done) + 0.01  # measured from the first one
    await asyncio.sleep(wait + 0.02)
    assert await coordination.take_rate("k", 2, per) == 0.0
    assert await coordination.take_rate("k", 2, per) > 0  # the second still counts


async def test_take_rate_never_exceeds_its_count_when_raced(coordination: Coordination) -> None:
    waits = await asyncio.gather(*(coordination.take_rate("k", 10, LONG) for _ in range(40)))
    assert waits.count(0.0) == 10


# -- first_sighting -------------------------------------------------------------------


async def test_first_sighting_is_true_once_within_its_ttl(coordination: Coordination) -> None:
    assert await coordination.first_sighting("slack:Ev0123ABCD", LONG) is True
    assert await coordination.first_sighting("slack:Ev0123ABCD", LONG) is False
    assert await coordination.first_sighting("slack:Ev0123ABCD", LONG) is False
    assert await coordination.first_sighting("slack:Ev0456EFGH", LONG) is True


async def test_first_sighting_is_true_again_after_its_ttl(coordination: Coordination) -> None:
    assert await coordination.first_sighting("e", SHORT) is True
    await asyncio.sleep(PAST)
    assert await coordination.first_sighting("e", SHORT) is True


async def test_first_sighting_has_one_winner_when_raced(coordination: Coordination) -> None:
    seen = await asyncio.gather(*(coordination.first_sighting("e", LONG) for _ in range(20)))
    assert seen.count(True) == 1


# -- try_lock / renew_lock / unlock ---------------------------------------------------


async def test_a_lock_has_one_owner(coordination: Coordination) -> None:
    assert await coordination.try_lock("thread", "worker-a", LONG) is True
    assert await coordination.try_lock("thread", "worker-b", LONG) is False
    assert await coordination.try_lock("thread", "worker-a", LONG) is True  # renews its own
    assert await coordination.try_lock("another-thread", "worker-b", LONG) is True


async def test_a_lock_not_renewed_expires(coordination: Coordination) -> None:
    assert await coordination.try_lock("thread", "dead-worker", SHORT) is True
    await asyncio.sleep(PAST)
    assert await coordination.try_lock("thread", "worker-b", LONG) is True
    assert await coordination.renew_lock("thread", "dead-worker", LONG) is False  # lost


async def test_renew_lock_extends_only_the_owners_lock(coordination: Coordination) -> None:
    assert await coordination.renew_lock("thread", "worker-a", LONG) is False  # nobody holds it
    assert await coordination.try_lock("thread", "worker-a", SHORT) is True
    assert await coordination.renew_lock("thread", "worker-b", LONG) is False
    assert await coordination.renew_lock("thread", "worker-a", LONG) is True
    await asyncio.sleep(PAST)  # past the first lease: the renewal holds it
    assert await coordination.try_lock("thread", "worker-b", LONG) is False


async def test_unlock_releases_only_the_owners_lock(coordination: Coordination) -> None:
    assert await coordination.try_lock("thread", "worker-a", LONG) is True
    await coordination.unlock("thread", "worker-b")
    assert await coordination.try_lock("thread", "worker-b", LONG) is False
    await coordination.unlock("thread", "worker-a")
    assert await coordination.try_lock("thread", "worker-b", LONG) is True
    await coordination.unlock("thread", "worker-a")  # no longer its lock: nothing happens
    assert await coordination.try_lock("thread", "worker-a", LONG) is False


async def test_a_lock_has_one_winner_when_raced(coordination: Coordination) -> None:
    owners = [f"worker-{n}" for n in range(10)]
    held = await asyncio.gather(*(coordination.try_lock("t", o, LONG) for o in owners))
    assert held.count(True) == 1


# -- enter / leave / members ----------------------------------------------------------


async def test_enter_admits_up_to_limit_live_members(coordination: Coordination) -> None:
    assert await coordination.enter("in-flight", "answer-1", 2, LONG) is True
    assert await coordination.enter("in-flight", "answer-2", 2, LONG) is True
    assert await coordination.enter("in-flight", "answer-3", 2, LONG) is False
    assert await coordination.members("in-flight") == 2
    assert await coordination.enter("in-flight", "answer-1", 2, LONG) is True  # renews
    await coordination.leave("in-flight", "answer-1")
    assert await coordination.members("in-flight") == 1
    assert await coordination.enter("in-flight", "answer-3", 2, LONG) is True
    await coordination.leave("in-flight", "never-entered")  # nothing happens
    assert await coordination.members("in-flight") == 2
    assert await coordination.members("another-set") == 0


async def test_enter_with_limit_0_has_no_limit(coordination: Coordination) -> None:
    for n in range(30):
        assert await coordination.enter("in-flight", f"answer-{n}", 0, LONG) is True
    assert await coordination.members("in-flight") == 30


async def test_a_member_not_renewed_no_longer_counts(coordination: Coordination) -> None:
    assert await coordination.enter("in-flight", "dead-worker-answer", 2, SHORT) is True
    assert await coordination.enter("in-flight", "answer-2", 2, LONG) is True
    await asyncio.sleep(PAST)
    assert await coordination.members("in-flight") == 1
    assert await coordination.enter("in-flight", "answer-3", 2, LONG) is True


async def test_entering_again_renews_the_lease(coordination: Coordination) -> None:
    assert await coordination.enter("in-flight", "answer-1", 1, SHORT) is True
    assert await coordination.enter("in-flight", "answer-1", 1, LONG) is True
    await asyncio.sleep(PAST)
    assert await coordination.members("in-flight") == 1
    assert await coordination.enter("in-flight", "answer-2", 1, LONG) is False


async def test_enter_never_exceeds_its_limit_when_raced(coordination: Coordination) -> None:
    entered = await asyncio.gather(
        *(coordination.enter("in-flight", f"a-{n}", 5, LONG) for n in range(25))
    )
    assert entered.count(True) == 5


# -- request_stop / stop_requested ----------------------------------------------------


async def test_stop_is_requested_for_its_ttl(coordination: Coordination) -> None:
    assert await coordination.stop_requested("answer-1") is False
    await coordination.request_stop("answer-1", LONG)
    assert await coordination.stop_requested("answer-1") is True
    assert await coordination.stop_requested("answer-2") is False
    await coordination.request_stop("answer-2", SHORT)
    await asyncio.sleep(PAST)
    assert await coordination.stop_requested("answer-2") is False
    assert await coordination.stop_requested("answer-1") is True


# -- Redis: two clients are two workers -----------------------------------------------


@pytest.fixture
async def two_workers(redis_url: str) -> AsyncIterator[tuple[RedisCoordination, ...]]:
    prefix = _prefix()
    async with (
        await RedisCoordination.connect(redis_url, prefix=prefix) as a,
        await RedisCoordination.connect(redis_url, prefix=prefix) as b,
    ):
        yield a, b


async def test_two_redis_workers_see_each_other(
    two_workers: tuple[RedisCoordination, RedisCoordination],
) -> None:
    a, b = two_workers
    # One budget: 50 requests/s per bot, whichever worker sends them.
    takes = [a.take_rate("discord:global", 50, LONG) for _ in range(30)]
    takes += [b.take_rate("discord:global", 50, LONG) for _ in range(30)]
    assert (await asyncio.gather(*takes)).count(0.0) == 50
    assert await a.first_sighting("slack:Ev0123ABCD", LONG) is True
    assert await b.first_sighting("slack:Ev0123ABCD", LONG) is False
    assert await a.try_lock("slack:T0123:C0123:1700000000.000100", "worker-a", LONG) is True
    assert await b.try_lock("slack:T0123:C0123:1700000000.000100", "worker-b", LONG) is False
    assert await b.renew_lock("slack:T0123:C0123:1700000000.000100", "worker-b", LONG) is False
    await a.unlock("slack:T0123:C0123:1700000000.000100", "worker-a")
    assert await b.try_lock("slack:T0123:C0123:1700000000.000100", "worker-b", LONG) is True
    assert await a.enter("in-flight", "answer-1", 1, LONG) is True
    assert await b.enter("in-flight", "answer-2", 1, LONG) is False
    assert await b.members("in-flight") == 1
    await b.request_stop("answer-1", LONG)
    assert await a.stop_requested("answer-1") is True


async def test_prefixes_keep_deployments_apart(redis_url: str) -> None:
    async with (
        await RedisCoordination.connect(redis_url, prefix=_prefix()) as a,
        await RedisCoordination.connect(redis_url, prefix=_prefix()) as b,
    ):
        assert await a.try_lock("thread", "worker-a", LONG) is True
        assert await b.try_lock("thread", "worker-b", LONG) is True


async def test_a_redis_that_cannot_be_reached_is_refused_in_one_sentence() -> None:
    with socket_nobody_listens_on() as port:
        url = f"redis://:s3cret-redis-password@127.0.0.1:{port}/0"
        with pytest.raises(ConfigError) as refused:
            await RedisCoordination.connect(url)
    sentence = refused.value.user_message
    assert f"127.0.0.1:{port}/0" in sentence
    assert "s3cret" not in sentence
    assert "\n" not in sentence


@contextlib.contextmanager
def socket_nobody_listens_on() -> Iterator[int]:
    """A loopback port bound but not listening: connecting is refused at once."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]
