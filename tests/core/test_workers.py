"""Several workers on one real database: only a worker whose lease expired is taken over.

Each worker has its own store (its own connection, its own worker id) on one
database, SQLite file or PostgreSQL; the Coordination they share stands in for the
Redis server (its clock is the test's, so leases expire without sleeping).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import pytest

from bot.coordination import InProcessCoordination
from bot.domain import Role, ThreadKey, Turn, TurnStatus
from bot.workers import Takeover, Workers, lease_key
from storage import SqliteStore
from storage.postgres import PostgresStore
from tests.fakes.clock import FakeClock

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from bot.ports import ConversationStore
    from tests.servers.postgres import Databases

LEASE = 10.0
KEY = ThreadKey("discord", "1234567890123456789", "1234567890123456790", "1234567890123456791")


@pytest.fixture(params=["sqlite", "postgres"])
async def open_worker_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[[str], Awaitable[ConversationStore]]]:
    """Opens one store per worker, all on one database."""
    opened: list[ConversationStore] = []
    url = None
    if request.param == "postgres":
        databases: Databases = request.getfixturevalue("postgres_databases")
        url = await databases.fresh()

    async def open_store(worker: str) -> ConversationStore:
        store: ConversationStore
        if url is None:
            store = await SqliteStore.open(tmp_path / "shared.db", worker=worker)
        else:
            store = await PostgresStore.open(url, worker=worker)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.close()


async def worker(
    open_store: Callable[[str], Awaitable[ConversationStore]],
    name: str,
    coordination: InProcessCoordination,
) -> tuple[Workers, ConversationStore]:
    store = await open_store(name)
    workers = Workers(store, coordination, lease=LEASE, reask_within=3600.0)
    assert await workers.renew()
    return workers, store


async def asked_and_streaming(store: ConversationStore, n: int) -> tuple[Turn, Turn]:
    """A question being answered, and one waiting behind it, as a live worker has them."""
    key = ThreadKey(KEY.platform, KEY.workspace, KEY.channel, f"{KEY.thread}{n}")
    first = await store.add_turn(key, Turn(role=Role.USER, text=f"q{n}", status=TurnStatus.PENDING))
    assert first is not None
    answer = Turn(
        role=Role.ASSISTANT, text="so far", status=TurnStatus.STREAMING, reply_to=first.id
    )
    streaming = await store.add_turn(key, answer)
    waiting = await store.add_turn(
        key, Turn(role=Role.USER, text=f"next{n}", status=TurnStatus.PENDING)
    )
    assert streaming is not None
    assert waiting is not None
    return streaming, waiting


async def test_a_live_workers_turns_are_left_alone_and_a_dead_ones_taken_over_once(
    open_worker_store: Callable[[str], Awaitable[ConversationStore]],
) -> None:
    clock = FakeClock()
    shared = InProcessCoordination(now=clock.monotonic)
    _a, a_store = await worker(open_worker_store, "worker-a", shared)
    b, b_store = await worker(open_worker_store, "worker-b", shared)
    a_streaming, a_waiting = await asked_and_streaming(a_store, 1)
    b_streaming, _ = await asked_and_streaming(b_store, 2)

    # A worker starting while both live takes nothing (today's start cut everything).
    c, _ = await worker(open_worker_store, "worker-c", shared)
    assert not await c.take_over()
    clock.now += LEASE * 2 / 3
    assert await b.renew()  # b renews, a does not: a is dead from here
    assert await c.renew()
    assert not await b.take_over()  # a's lease has not run out yet
    clock.now += LEASE * 2 / 3  # now it has; b's and c's have not

    found = await c.take_over()
    assert [t.turn.id for t in found.interrupted] == [a_streaming.id]
    assert found.interrupted[0].turn.status is TurnStatus.INTERRUPTED
    assert [q.turn.id for q in found.questions] == [a_waiting.id]
    assert await b.take_over() == Takeover()  # exactly one heir
    assert b_streaming.id is not None
    still = await b_store.get_turn(b_streaming.id)
    assert still is not None
    assert still.status is TurnStatus.STREAMING
    # The dead worker's lock was let go, so it could come back under its own id.
    assert await shared.try_lock(lease_key("worker-a"), "worker-a", LEASE)


async def test_turns_of_no_worker_are_taken_over_at_start(
    open_worker_store: Callable[[str], Awaitable[ConversationStore]],
) -> None:
    """Rows from before workers had ids are recovered as a start always recovered them."""
    old = await open_worker_store("")
    streaming, waiting = await asked_and_streaming(old, 3)
    new, _ = await worker(open_worker_store, "worker-new", InProcessCoordination())
    found = await new.take_over()
    assert [t.turn.id for t in found.interrupted] == [streaming.id]
    assert [q.turn.id for q in found.questions] == [waiting.id]


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "each-its-own"])
async def test_only_a_shared_coordination_sweeps_for_dead_workers(
    open_worker_store: Callable[[str], Awaitable[ConversationStore]], shared: bool
) -> None:
    """Two processes wrongly sharing a file without REDIS_URL each see only their own
    lease: sweeping then would cut the other's live answers every lease."""
    clock = FakeClock()
    _other, other_store = await worker(open_worker_store, "worker-other", InProcessCoordination())
    streaming, _ = await asked_and_streaming(other_store, 4)
    store = await open_worker_store("worker-me")
    me = Workers(
        store,
        InProcessCoordination(now=clock.monotonic),
        lease=LEASE,
        reask_within=3600.0,
        clock=clock,
        sweeps=shared,
    )
    taken: list[Takeover] = []

    async def recover(found: Takeover) -> None:
        taken.append(found)

    keeping = asyncio.create_task(me.keep(recover))
    while clock.now < 1000.0 + LEASE * 3:  # three sweeps' worth of beats
        await asyncio.sleep(0)
    keeping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await keeping
    assert streaming.id is not None
    after = await other_store.get_turn(streaming.id)
    assert after is not None
    assert (after.status is TurnStatus.STREAMING) is not shared
    assert bool(taken) is shared
