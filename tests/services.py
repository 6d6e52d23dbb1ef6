"""One way for tests to build the real ``ReplyService`` against a store and the fake upstream,
and the upstream settings that go with it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import SecretStr

from bot.models import ModelCatalog
from bot.ports import ConversationStore
from bot.service import ReplyService
from bot.settings import ConversationLimits, UpstreamSettings
from bot.upstream import UpstreamClient
from tests.fakes.upstream import API_KEY, FakeUpstream

# A fixed "today" keeps the system prompt's {date} the same in every run.
TODAY = dt.date(2026, 11, 22)


def reply_service(
    store: ConversationStore,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    **options: Any,
) -> ReplyService:
    """The service with test-friendly defaults (fast flushes, a fixed date); ``options``
    override any ``ReplyService`` argument (``limits``, ``images``, ``allowance`` …)."""
    arguments: dict[str, Any] = {
        "catalog": ModelCatalog(upstream_settings),
        "limits": ConversationLimits(),
        "flush_interval": 0.05,
        "today": lambda: TODAY,
    } | options
    return ReplyService(store=store, client=client, upstream=upstream_settings, **arguments)


def generous_upstream_settings(upstream: FakeUpstream) -> UpstreamSettings:
    """Generous timeouts: a test that stalls the stream on purpose stops it long before."""
    return UpstreamSettings(
        base_url=upstream.base_url,
        api_key=SecretStr(API_KEY),
        timeout_connect=5.0,
        timeout_first_token=20.0,
        timeout_idle=20.0,
    )
