"""Leases on the ``Coordination`` port, held while a block runs and renewed meanwhile.

A worker that dies stops renewing, so what it held (a thread's turn to be
answered, a place among the answers in flight) is free again within one lease.
Leases run on real time (``asyncio.sleep``), like the coordination that measures
them (the Redis server's clock, or this process's monotonic one), never on the
service's ``Clock``: a test's fake clock moves answers, not leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from bot.coordination import Coordination
from bot.errors import ThreadlineError

log = logging.getLogger(__name__)

# A dead worker's thread is free again within this many seconds; a live one renews
# three times per lease, so one slow round trip to Redis does not lose it.
LEASE_SECONDS = 20.0
# How often a worker waiting for a thread another worker answers asks again.
POLL_SECONDS = 0.1


def owner_id() -> str:
    """A name for one holder: unique across workers and within one."""
    return uuid.uuid4().hex


@contextlib.asynccontextmanager
async def thread_lock(
    coordination: Coordination,
    key: str,
    *,
    lease: float = LEASE_SECONDS,
    poll: float = POLL_SECONDS,
) -> AsyncIterator[None]:
    """Wait until ``key``'s lock is free (here or on any worker), hold it while the block
    runs, renewing it, and release it after."""
    owner = owner_id()
    # Polled: Redis has no "wait for a key to go" that survives a dead holder's expiry.
    while True:
        if await coordination.try_lock(key, owner, lease):
            break
        await asyncio.sleep(poll)
    try:
        async with _renewed(lambda: coordination.renew_lock(key, owner, lease), lease, key):
            yield
    finally:
        await asyncio.shield(_quietly(coordination.unlock(key, owner)))


@contextlib.asynccontextmanager
async def renewed_membership(
    coordination: Coordination, key: str, member: str, *, lease: float = LEASE_SECONDS
) -> AsyncIterator[None]:
    """Keep ``member`` (entered already) in the set at ``key`` while the block runs; leave after."""
    try:
        async with _renewed(lambda: coordination.enter(key, member, 0, lease), lease, key):
            yield
    finally:
        await asyncio.shield(_quietly(coordination.leave(key, member)))


async def _quietly(release: Awaitable[None]) -> None:
    """Give back what was held; a failure only means it expires by its lease instead."""
    try:
        await release
    except ThreadlineError as error:
        log.warning("could not give back a lease; it expires by itself (%s)", type(error).__name__)


@contextlib.asynccontextmanager
async def _renewed(
    renew: Callable[[], Awaitable[bool]], lease: float, key: str
) -> AsyncIterator[None]:
    task = asyncio.create_task(_renew(renew, lease, key), name=f"lease-{key}")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait([task])  # its cancellation, not ours, is swallowed


async def _renew(renew: Callable[[], Awaitable[bool]], lease: float, key: str) -> None:
    while True:
        await asyncio.sleep(lease / 3)
        try:
            held = await renew()
        except ThreadlineError as error:  # Redis away for a moment: the next try may land
            log.warning("could not renew a lease (%s)", type(error).__name__)
            continue
        if not held:
            log.warning("a lease expired before it was renewed; another worker may take it")
            return
