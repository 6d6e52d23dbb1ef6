"""Operations: ``/healthz`` and ``/metrics``, in-process and on a real ``threadline run``."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.domain import Incoming, ThreadKey
from bot.health import OpsServer, UpstreamProbe
from bot.metrics import Metrics
from bot.models import ModelCatalog
from bot.service import Outcome, ReplyService
from bot.settings import ConversationLimits, OpsSettings, UpstreamSettings, load_settings
from bot.upstream import UpstreamClient
from storage import MemoryStore
from tests.core.test_service import RecordingSink
from tests.fakes.clock import FakeClock
from tests.fakes.discord import FakeDiscord
from tests.fakes.slack import SlackFake
from tests.fakes.upstream import Answer, FakeUpstream, Fault
from tests.test_run import base_env, start_run, stop

T = TypeVar("T")
KEY = ThreadKey("discord", "g1", "c1", "t1")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text -> {(sample name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def eventually(probe: Callable[[], Awaitable[T | None]], within: float = 30.0) -> T:
    """Poll until ``probe`` returns something truthy (a bound on waiting, not a timing check)."""
    async with asyncio.timeout(within):
        while True:
            found = await probe()
            if found:
                return found
            await asyncio.sleep(0.05)


# -- the service's instruments ------------------------------------------------------


def service_with(
    metrics: Metrics, client: UpstreamClient, settings: UpstreamSettings
) -> ReplyService:
    return ReplyService(
        store=MemoryStore(),
        client=client,
        catalog=ModelCatalog(settings),
        limits=ConversationLimits(),
        upstream=settings,
        today=lambda: dt.date(2026, 11, 22),
        metrics=metrics,
    )


def incoming(text: str) -> Incoming:
    return Incoming(key=KEY, message_id=f"m-{text}", author_id="u1", author_name="Ada", text=text)


def render(metrics: Metrics) -> str:
    from prometheus_client import generate_latest

    return generate_latest(metrics.registry).decode()


async def test_an_answer_counts_its_outcome_tokens_and_latencies(
    client: UpstreamClient, upstream_settings: UpstreamSettings, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(usage_chunk=True)
    metrics = Metrics()
    service = service_with(metrics, client, upstream_settings)
    result = await service.handle(incoming("hello"), RecordingSink())
    assert result.outcome is Outcome.ANSWERED
    assert result.usage is not None
    text = render(metrics)
    assert value(text, "threadline_answers_total", outcome="answered") == 1
    assert value(text, "threadline_tokens_total", kind="prompt") == result.usage.prompt_tokens
    assert value(text, "threadline_tokens_total", kind="completion") == (
        result.usage.completion_tokens
    )
    assert value(text, "threadline_time_to_first_token_seconds_count") == 1
    assert value(text, "threadline_time_to_final_edit_seconds_count") == 1
    assert value(text, "threadline_answers_in_flight") == 0


async def test_a_duplicate_is_not_an_answer_and_an_upstream_error_is_counted_by_code(
    client: UpstreamClient, upstream_settings: UpstreamSettings, upstream: FakeUpstream
) -> None:
    metrics = Metrics()
    service = service_with(metrics, client, upstream_settings)
    upstream.fail_next(Fault("error", code="invalid_token"))
    failed = await service.handle(incoming("one"), RecordingSink())
    await service.handle(incoming("one"), RecordingSink())  # redelivered: a duplicate
    assert failed.outcome is Outcome.FAILED
    text = render(metrics)
    assert value(text, "threadline_answers_total", outcome="failed") == 1
    assert value(text, "threadline_answers_total", outcome="duplicate") is None
    assert value(text, "threadline_upstream_errors_total", code="invalid_token") == 1
    assert value(text, "threadline_time_to_final_edit_seconds_count") == 0  # only answered ones


async def test_an_answer_in_flight_is_in_the_gauge_and_a_stopped_one_is_interrupted(
    client: UpstreamClient, upstream_settings: UpstreamSettings, upstream: FakeUpstream
) -> None:
    upstream.fail_next(Fault("stall", after_chunks=2, seconds=30))
    metrics = Metrics()
    service = service_with(metrics, client, upstream_settings)
    sink = RecordingSink()
    task = asyncio.create_task(service.handle(incoming("long"), sink))
    await eventually(lambda: _some(sink.appended))
    assert value(render(metrics), "threadline_answers_in_flight") == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    text = render(metrics)
    assert value(text, "threadline_answers_in_flight") == 0
    assert value(text, "threadline_answers_total", outcome="interrupted") == 1


async def _some(items: list[str]) -> bool:
    return bool(items)


def test_two_services_keep_separate_counts() -> None:
    first, second = Metrics(), Metrics()
    first.answer_ended("answered")
    assert value(render(first), "threadline_answers_total", outcome="answered") == 1
    assert value(render(second), "threadline_answers_total", outcome="answered") is None


# -- /healthz and /metrics in-process -------------------------------------------------


async def ok_database() -> None:
    return None


async def broken_database() -> None:
    raise sqlite3.OperationalError("disk I/O error")


def ops_settings(**changes: Any) -> OpsSettings:
    return OpsSettings(host="127.0.0.1", port=0, upstream_cache_seconds=0).model_copy(
        update=changes
    )


async def test_healthz_reports_every_part_and_503_when_one_is_down(
    upstream: FakeUpstream,
) -> None:
    link = {"up": False}
    metrics = Metrics()
    async with OpsServer(
        ops_settings(), metrics=metrics, database=ok_database, upstream_url=upstream.base_url
    ) as ops:
        ops.watch("discord", connected=lambda: link["up"], rate_limited=lambda: 3)
        assert ops.address is not None
        base = f"http://127.0.0.1:{ops.address[1]}"
        async with httpx.AsyncClient(base_url=base) as http:
            response = await http.get("/healthz")
            assert response.status_code == 503
            assert response.json()["platforms"] == {"discord": "disconnected"}
            link["up"] = True
            response = await http.get("/healthz")
            assert response.status_code == 200
            assert response.json() == {
                "database": "ok",
                "upstream": "ok",
                "platforms": {"discord": "connected"},
            }
            page = await http.get("/metrics")
            assert page.headers["content-type"].startswith("text/plain")
            assert (
                value(page.text, "threadline_platform_rate_limited_total", platform="discord") == 3
            )
            await upstream.stop()
            response = await http.get("/healthz")
            assert response.status_code == 503
            assert response.json()["upstream"].startswith("unreachable: 127.0.0.1:")


async def test_a_failing_database_is_a_503_with_its_error(upstream: FakeUpstream) -> None:
    async with (
        OpsServer(
            ops_settings(),
            metrics=Metrics(),
            database=broken_database,
            upstream_url=upstream.base_url,
        ) as ops,
        httpx.AsyncClient() as http,
    ):
        assert ops.address is not None
        response = await http.get(f"http://127.0.0.1:{ops.address[1]}/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "error: disk I/O error"


async def test_the_upstream_probe_is_reused_for_its_cache_time(
    upstream: FakeUpstream, clock: FakeClock
) -> None:
    probe = UpstreamProbe(upstream.base_url, timeout=2.0, cache_seconds=5.0, clock=clock)
    assert await probe.status() == "ok"
    await upstream.stop()
    assert await probe.status() == "ok"  # cached: no connection attempted
    await clock.sleep(5.0)
    assert (await probe.status()).startswith("unreachable")


async def test_a_taken_port_is_logged_and_the_endpoint_is_skipped(
    upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with OpsServer(
            ops_settings(port=port),
            metrics=Metrics(),
            database=ok_database,
            upstream_url=upstream.base_url,
        ) as ops:
            assert ops.address is None
    assert "cannot listen" in caplog.text


async def test_no_port_no_endpoint(upstream: FakeUpstream) -> None:
    settings = load_settings(env_file=None, ops={"port": "off"})
    assert settings.ops.port is None
    async with OpsServer(
        settings.ops, metrics=Metrics(), database=ok_database, upstream_url=upstream.base_url
    ) as ops:
        assert ops.address is None


# -- a real ``threadline run`` ------------------------------------------------------


def ops_env(port: int) -> dict[str, str]:
    return {
        "OPS__PORT": str(port),
        "OPS__HOST": "127.0.0.1",
        "OPS__UPSTREAM_CACHE_SECONDS": "0",
    }


async def test_run_serves_healthz_and_metrics_for_discord(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.answer = Answer(usage_chunk=True)
    port = free_port()
    async with FakeDiscord() as discord_fake:
        env = (
            base_env(upstream, tmp_path)
            | {
                "DISCORD_TOKEN": discord_fake.token,
                "DISCORD__API_BASE": discord_fake.api_base,
                "DISCORD__GATEWAY_URL": discord_fake.gateway_url,
            }
            | ops_env(port)
        )
        process = await start_run(env)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

                async def health(status: int) -> dict[str, Any] | None:
                    try:
                        response = await http.get("/healthz")
                    except httpx.TransportError:
                        return None  # not listening yet
                    body: dict[str, Any] = response.json()
                    return body if response.status_code == status else None

                report = await eventually(lambda: health(200))
                assert report == {
                    "database": "ok",
                    "upstream": "ok",
                    "platforms": {"discord": "connected"},
                }
                await discord_fake.dispatch_message(content="what is WAL?", mentions_bot=True)

                async def answered() -> str | None:
                    page = (await http.get("/metrics")).text
                    done = value(page, "threadline_answers_total", outcome="answered")
                    return page if done else None

                page = await eventually(answered)
                assert value(page, "threadline_answers_total", outcome="answered") == 1
                assert value(page, "threadline_tokens_total", kind="prompt") == 10
                completion = value(page, "threadline_tokens_total", kind="completion")
                assert completion is not None
                assert completion > 0  # one per token the fake streamed
                assert value(page, "threadline_time_to_first_token_seconds_count") == 1
                assert value(page, "threadline_time_to_final_edit_seconds_count") == 1
                assert value(page, "threadline_answers_in_flight") == 0
                assert (
                    value(page, "threadline_platform_rate_limited_total", platform="discord") == 0
                )

                await upstream.stop()
                report = await eventually(lambda: health(503))
                assert report["upstream"].startswith("unreachable")
                assert report["platforms"] == {"discord": "connected"}
        finally:
            code, err = await stop(process)
    assert code == 0, err
    assert "operations endpoint on http://127.0.0.1:" in err


async def test_run_reports_slack_in_healthz(upstream: FakeUpstream, tmp_path: Path) -> None:
    port = free_port()
    async with SlackFake() as slack:
        env = (
            base_env(upstream, tmp_path)
            | {
                "SLACK_BOT_TOKEN": slack.bot_token,
                "SLACK_APP_TOKEN": slack.app_token,
                "SLACK__API_URL": slack.base_url,
            }
            | ops_env(port)
        )
        process = await start_run(env)
        try:
            await slack.wait_for(lambda: slack.socket.connections, 30, "socket")
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

                async def healthy() -> dict[str, Any] | None:
                    try:
                        response = await http.get("/healthz")
                    except httpx.TransportError:
                        return None
                    body: dict[str, Any] = response.json()
                    return body if response.status_code == 200 else None

                report = await eventually(healthy)
                page = (await http.get("/metrics")).text
        finally:
            code, err = await stop(process)
    assert code == 0, err
    assert report["platforms"] == {"slack": "connected"}
    assert value(page, "threadline_platform_rate_limited_total", platform="slack") == 0
