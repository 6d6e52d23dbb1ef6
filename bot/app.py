"""The core, opened once per command: the store, the coordination, the upstream client
and the services built on them (``open_core``). Wiring only; ``bot.cli`` runs it.

The core never hands the store to an adapter (issue 17 point 1): a platform gets
``Core.service`` (answers) and ``Core.conversations`` (look-ups, edits, deletions,
history import, catch-up, settings).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bot.allowance import Allowance
from bot.conversations import Conversations
from bot.coordination import Coordination, InProcessCoordination
from bot.domain import StoredTurn
from bot.fetch import Fetcher
from bot.image_flow import ImageFlow
from bot.metrics import Metrics
from bot.models import ModelCatalog
from bot.ports import CompletionClient
from bot.service import ReplyService
from bot.settings import QuotaSettings, Settings, StorageSettings
from bot.upstream import UpstreamClient
from bot.workers import Workers, new_worker_id
from storage import ImageStore, SqliteStore
from storage.postgres import PostgresStore

__all__ = ["Core", "configured_platforms", "open_core", "open_store"]


@dataclass
class Core:
    settings: Settings
    store: SqliteStore | PostgresStore
    client: UpstreamClient
    catalog: ModelCatalog
    service: ReplyService
    metrics: Metrics
    coordination: Coordination
    workers: Workers
    conversations: Conversations
    # Answers a crash left half-written (now ``interrupted``): ``run`` finishes them.
    interrupted: list[StoredTurn] = field(default_factory=list)
    # Questions dead workers left waiting (``run`` only): the platforms answer them.
    unanswered: list[StoredTurn] = field(default_factory=list)


async def open_store(storage: StorageSettings, *, worker: str = "") -> SqliteStore | PostgresStore:
    """The configured store: PostgreSQL when STORAGE__URL names one, else the SQLite file.
    ``worker`` is recorded on every turn the store adds (bot/workers.py)."""
    url = storage.postgres_url
    if url is not None:
        return await PostgresStore.open(url, worker=worker)
    return await SqliteStore.open(
        storage.sqlite_path, busy_timeout_ms=storage.busy_timeout_ms, worker=worker
    )


@contextlib.asynccontextmanager
async def open_core(
    settings: Settings, *, shared: bool = False, platforms: list[str] | None = None
) -> AsyncIterator[Core]:
    """Open the database and the upstream client, and build the services.

    ``shared``: the service answers other people (``run``), so the cost and abuse
    controls apply; the console commands are the operator's own and run without.
    """
    async with (
        await open_store(settings.storage, worker=new_worker_id()) as store,
        await _coordination(settings, shared=shared) as coordination,
        UpstreamClient(settings.upstream) as client,
        Fetcher(settings.images) as fetcher,
    ):
        catalog = ModelCatalog(settings.upstream)
        metrics = Metrics()
        service = _reply_service(
            settings, store, client, catalog, fetcher, metrics, coordination, shared=shared
        )
        client.rate_limited.append(service.slots.throttled)  # the upstream's 429s
        workers = Workers(
            store,
            coordination,
            lease=settings.limits.worker_lease_seconds,
            reask_within=settings.limits.reask_within_seconds,
            platforms=(platforms or configured_platforms(settings)) if shared else ["console"],
            sweeps=shared and settings.redis_url is not None,
        )
        await workers.renew()
        # Only dead workers' turns: a live worker sharing the database keeps its own.
        # Console commands leave the questions to ``run`` (they answer no platform).
        found = await workers.take_over(adopt_questions=shared)
        yield Core(
            settings=settings,
            store=store,
            client=client,
            catalog=catalog,
            service=service,
            metrics=metrics,
            coordination=coordination,
            workers=workers,
            conversations=Conversations(store),
            interrupted=found.interrupted,
            unanswered=found.questions,
        )


def _reply_service(
    settings: Settings,
    store: SqliteStore | PostgresStore,
    client: CompletionClient,
    catalog: ModelCatalog,
    fetcher: Fetcher,
    metrics: Metrics,
    coordination: Coordination,
    *,
    shared: bool,
) -> ReplyService:
    images = settings.images
    # Image bytes: content-addressed files next to the database (storage/images.py).
    folder = images.store_dir or settings.storage.sqlite_path.with_name(
        settings.storage.sqlite_path.name + ".images"
    )
    blobs = ImageStore(folder, max_bytes=images.store_max_bytes)
    quota = settings.quota if shared else QuotaSettings.off()
    return ReplyService(
        store=store,
        client=client,
        catalog=catalog,
        limits=settings.limits,
        upstream=settings.upstream,
        flush_interval=settings.storage.flush_interval,
        images=ImageFlow(images, blobs=blobs, fetcher=fetcher),
        metrics=metrics,
        allowance=Allowance(store, quota, coordination=coordination),
        coordination=coordination,
    )


async def _coordination(
    settings: Settings, *, shared: bool
) -> contextlib.AbstractAsyncContextManager[Coordination]:
    """What several workers agree on: the Redis server at ``REDIS_URL`` for ``run`` when it
    is set (one that cannot be reached stops start-up with a sentence), else this process."""
    if shared and settings.redis_url is not None:
        from storage.redis import RedisCoordination

        return await RedisCoordination.connect(settings.redis_url.get_secret_value())
    return _closing(InProcessCoordination())


@contextlib.asynccontextmanager
async def _closing(coordination: Coordination) -> AsyncIterator[Coordination]:
    try:
        yield coordination
    finally:
        await coordination.close()


def configured_platforms(settings: Settings) -> list[str]:
    """Platforms whose credentials are set (Slack also needs a connection mode)."""
    platforms = []
    if settings.discord.token is not None:
        platforms.append("discord")
    slack = settings.slack
    if slack.bot_token is not None or (slack.client_id and slack.client_secret):
        platforms.append("slack")  # one workspace's token, or installs by OAuth
    return platforms
