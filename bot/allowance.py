"""Cost and abuse controls: may this person ask now, and how much has been used.

Checked for every message the service accepts, cheapest first, so a refusal
spends nothing it need not:

1. answers in flight, per person and in all: leased places in ``Coordination``
   sets, so every worker counts the same questions, and a dead worker's places
   expire within a lease (bot/leases.py renews them while the answer runs);
2. daily token quotas (a usage sum in the store), per person and per
   workspace or guild;
3. rate limits (token buckets in the store), per person and per channel; taken
   last and together, so a refused message costs no bucket a token.

A refusal carries the sentence to show, which says when to ask again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum

from bot import wording
from bot.coordination import Coordination, InProcessCoordination
from bot.domain import Bucket, Incoming, ThreadKey
from bot.leases import LEASE_SECONDS, owner_id, renewed_membership
from bot.ports import ConversationStore
from bot.settings import QuotaSettings

DAY = 24 * 3600.0


class Limit(StrEnum):
    """Which control refused a message (the ``reason`` label of the refusals metric)."""

    USER_IN_FLIGHT = "user_in_flight"
    IN_FLIGHT = "in_flight"
    USER_QUOTA = "user_quota"
    WORKSPACE_QUOTA = "workspace_quota"
    USER_RATE = "user_rate"
    CHANNEL_RATE = "channel_rate"


@dataclass(frozen=True, slots=True)
class Refusal:
    limit: Limit
    sentence: str


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Today's tokens (UTC) as the quotas count them; a quota of 0 is none."""

    mine: int
    channel: int
    workspace: int | None  # None in a direct message: no server or workspace
    user_quota: int
    workspace_quota: int
    renews_in: float  # seconds until 00:00 UTC
    # Of each figure, the tokens threadline estimated (the server reported no usage).
    mine_estimated: int = 0
    channel_estimated: int = 0
    workspace_estimated: int = 0


class Allowance:
    def __init__(
        self,
        store: ConversationStore,
        settings: QuotaSettings,
        *,
        now: Callable[[], float] = time.time,
        coordination: Coordination | None = None,
        lease: float = LEASE_SECONDS,
    ) -> None:
        self._store = store
        self._settings = settings
        self._now = now
        self._coordination = coordination or InProcessCoordination()
        self._lease = lease
        # This process's own questions (the metric); the limits count every worker's.
        self._in_flight: Counter[tuple[str, str]] = Counter()  # (platform, user) -> questions

    @property
    def in_flight(self) -> int:
        return self._in_flight.total()

    @contextlib.asynccontextmanager
    async def admitted(self, incoming: Incoming) -> AsyncIterator[Refusal | None]:
        """Yield ``None`` and count the question in flight until exit, or yield a refusal.

        The in-flight place is held from the first check, so two messages arriving
        together cannot both take the last one.
        """
        person = (incoming.key.platform, incoming.author_id)
        self._in_flight[person] += 1
        try:
            async with contextlib.AsyncExitStack() as places:
                refusal = await self._take_places(incoming, places)
                yield refusal or await self._refusal(incoming)
        finally:
            self._in_flight[person] -= 1
            if not self._in_flight[person]:
                del self._in_flight[person]

    async def _take_places(
        self, incoming: Incoming, places: contextlib.AsyncExitStack
    ) -> Refusal | None:
        """A place among the person's and among everyone's questions in flight, held
        (renewed) until ``places`` closes; or the refusal of the set that is full."""
        s = self._settings
        wanted = [
            (s.user_max_in_flight, f"in-flight:{user_scope(incoming)}", Limit.USER_IN_FLIGHT),
            (s.max_in_flight, "in-flight:all", Limit.IN_FLIGHT),
        ]
        question = owner_id()
        for limit, key, refused in wanted:
            if not limit:
                continue
            if not await self._coordination.enter(key, question, limit, self._lease):
                if refused is Limit.USER_IN_FLIGHT:
                    return Refusal(refused, wording.user_in_flight(limit))
                return Refusal(refused, wording.all_in_flight())
            member = renewed_membership(self._coordination, key, question, lease=self._lease)
            await places.enter_async_context(member)
        return None

    async def report(self, key: ThreadKey, user_id: str) -> UsageReport:
        """What ``/usage`` shows: the figures the daily quotas are checked against."""
        since, renews_in = self._today()
        usage = self._store.usage_since
        mine = await usage(since, platform=key.platform, requester_id=user_id)
        workspace, workspace_estimated = None, 0
        if key.workspace:
            used = await usage(since, platform=key.platform, workspace=key.workspace)
            workspace, workspace_estimated = used.total_tokens, used.estimated_tokens
        channel = await usage(
            since, platform=key.platform, workspace=key.workspace, channel=key.channel
        )
        return UsageReport(
            mine=mine.total_tokens,
            channel=channel.total_tokens,
            workspace=workspace,
            user_quota=self._settings.user_daily_tokens,
            workspace_quota=self._settings.workspace_daily_tokens if key.workspace else 0,
            renews_in=renews_in,
            mine_estimated=mine.estimated_tokens,
            channel_estimated=channel.estimated_tokens,
            workspace_estimated=workspace_estimated,
        )

    async def _refusal(self, incoming: Incoming) -> Refusal | None:
        return await self._over_quota(incoming) or await self._over_rate(incoming)

    async def _over_quota(self, incoming: Incoming) -> Refusal | None:
        s, key = self._settings, incoming.key
        if not (s.user_daily_tokens or s.workspace_daily_tokens):
            return None
        since, renews_in = self._today()
        if s.user_daily_tokens:
            used = await self._store.usage_since(
                since, platform=key.platform, requester_id=incoming.author_id
            )
            if used.total_tokens >= s.user_daily_tokens:
                sentence = wording.user_quota_spent(s.user_daily_tokens, renews_in)
                return Refusal(Limit.USER_QUOTA, sentence)
        if s.workspace_daily_tokens and key.workspace:
            used = await self._store.usage_since(
                since, platform=key.platform, workspace=key.workspace
            )
            if used.total_tokens >= s.workspace_daily_tokens:
                sentence = wording.workspace_quota_spent(s.workspace_daily_tokens, renews_in)
                return Refusal(Limit.WORKSPACE_QUOTA, sentence)
        return None

    async def _over_rate(self, incoming: Incoming) -> Refusal | None:
        s, key = self._settings, incoming.key
        buckets: list[Bucket] = []
        if s.user_per_minute:
            buckets.append(per_minute(user_scope(incoming), s.user_per_minute))
        if s.channel_per_minute:
            scope = f"channel:{key.platform}:{key.workspace}:{key.channel}"
            buckets.append(per_minute(scope, s.channel_per_minute))
        waits = await self._store.take_tokens(buckets, now=self._now())
        if not any(waits):
            return None
        wait = max(waits)
        if s.user_per_minute and waits[0]:  # the person's own bucket is named first
            return Refusal(Limit.USER_RATE, wording.user_rate(s.user_per_minute, wait))
        return Refusal(Limit.CHANNEL_RATE, wording.channel_rate(s.channel_per_minute, wait))

    def _today(self) -> tuple[float, float]:
        """(00:00 UTC today as a timestamp, seconds until the next 00:00 UTC)."""
        now = self._now()
        midnight = dt.datetime.fromtimestamp(now, dt.UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        start = midnight.timestamp()
        return start, start + DAY - now


def user_scope(incoming: Incoming) -> str:
    return f"user:{incoming.key.platform}:{incoming.author_id}"


def per_minute(scope: str, rate: int) -> Bucket:
    """A burst of ``rate`` messages, refilled at ``rate`` a minute."""
    return Bucket(scope, capacity=float(rate), per_second=rate / 60.0)
