"""Several HTTP-mode workers behind one load balancer answer one Slack app correctly.

Each worker is a SlackBot of its own, with its own connection to one SQLite file
and its own ReplyService, as two ``threadline run`` processes would have; what they
share is the store's file and the coordination (``workers_coordination``: with
``REDIS_URL`` a Redis client per worker, else one in-process object standing in).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.slack import SlackBot
from bot.coordination import Coordination, InProcessCoordination
from bot.models import ModelCatalog
from bot.settings import Settings, UpstreamSettings
from bot.upstream import UpstreamClient
from storage import SqliteStore
from tests.fakes.slack import SlackFake
from tests.fakes.slack.events import EnvelopeKind, encode_http_body, sign
from tests.fakes.upstream import FakeUpstream
from tests.services import reply_service
from tests.slack.conftest import GENERAL, bot_messages, events_url, slack_settings, wait_shown

Workers = Callable[[int], contextlib.AbstractAsyncContextManager[list[SlackBot]]]


@pytest.fixture
def coordinations() -> Callable[[], Coordination]:
    """One Coordination per worker, all agreeing: in this process, one shared object."""
    shared = InProcessCoordination()
    return lambda: shared


@pytest.fixture
def workers(
    slack_fake: SlackFake,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    coordinations: Callable[[], Coordination],
    tmp_path: Path,
) -> Workers:
    @contextlib.asynccontextmanager
    async def start(count: int) -> AsyncIterator[list[SlackBot]]:
        async with contextlib.AsyncExitStack() as stack:
            bots = []
            for _ in range(count):
                store = await stack.enter_async_context(
                    await SqliteStore.open(tmp_path / "threadline.db")
                )
                settings = Settings(
                    _env_file=None,
                    upstream=upstream_settings,
                    slack=slack_settings(slack_fake, http=True),
                )
                bot = SlackBot(
                    settings,
                    service=reply_service(store, client, upstream_settings),
                    store=store,
                    catalog=ModelCatalog(upstream_settings),
                    coordination=coordinations(),
                )
                await bot.start()
                stack.push_async_callback(bot.stop)
                bots.append(bot)
            yield bots

    return start


async def post(
    fake: SlackFake, url: str, kind: EnvelopeKind, payload: dict[str, Any], retry: int = 0
) -> None:
    """POST one signed delivery as Slack does; ``retry`` ≥ 1 adds X-Slack-Retry-Num."""
    body, content_type = encode_http_body(kind, payload)
    headers = {"Content-Type": content_type, **sign(body, fake.signing_secret)}
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as r,
    ):
        assert r.status == 200


async def test_a_retry_on_the_other_worker_is_dropped_and_the_thread_follows(
    slack_fake: SlackFake, workers: Workers, upstream: FakeUpstream
) -> None:
    async with workers(2) as (one, two):
        mention = slack_fake.payloads.app_mention("say it once")
        delivery = slack_fake.payloads.event_callback(mention)
        # Slack retries what was not acknowledged in time: the first is still at work.
        await asyncio.gather(
            post(slack_fake, events_url(one), "events_api", delivery),
            post(slack_fake, events_url(two), "events_api", delivery, retry=1),
        )
        await wait_shown(slack_fake, GENERAL, mention["ts"], "You said: say it once")
        await one.idle()
        await two.idle()
        assert len(upstream.requests) == 1
        assert len(bot_messages(slack_fake, GENERAL, mention["ts"])) == 1

        follow_up = slack_fake.payloads.message("and again", thread_ts=mention["ts"])
        await post(
            slack_fake, events_url(two), "events_api", slack_fake.payloads.event_callback(follow_up)
        )
        await slack_fake.wait_for(lambda: len(upstream.requests) == 2, what="the second answer")
        await two.idle()
        contents = [m["content"] for m in upstream.requests[-1]["messages"][1:]]
        assert contents == ["say it once", "You said: say it once", "and again"]


async def test_a_command_sent_again_to_the_other_worker_is_asked_once(
    slack_fake: SlackFake, workers: Workers, upstream: FakeUpstream
) -> None:
    """A repeated /ask quotes its question before the store could tell: only the
    shared sighting of its trigger_id keeps the second worker from asking again."""
    async with workers(2) as (one, two):
        command = slack_fake.payloads.slash_command("/ask", "what is a monad?")
        await asyncio.gather(
            post(slack_fake, events_url(one), "slash_commands", command),
            post(slack_fake, events_url(two), "slash_commands", command),
        )
        await slack_fake.wait_for(lambda: upstream.requests, what="an upstream request")
        await one.idle()
        await two.idle()
        assert len(upstream.requests) == 1
        questions = [m for m in bot_messages(slack_fake, GENERAL) if m.thread_ts is None]
        assert len(questions) == 1
