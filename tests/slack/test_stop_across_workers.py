"""HTTP interactivity behind a load balancer: a Stop click lands on worker A while the
answer streams on worker B; through the shared Redis it stops there, as a click on B would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.slack import SlackBot
from adapters.slack.buttons import REGENERATE_ACTION, STOP_ACTION
from bot import wording
from bot.conversations import Conversations
from bot.domain import TurnStatus
from bot.models import ModelCatalog
from bot.ports import ConversationStore
from bot.settings import Settings, UpstreamSettings
from bot.upstream import UpstreamClient
from storage.redis import RedisCoordination
from tests.fakes.slack import SlackFake
from tests.fakes.upstream import FakeUpstream, Fault
from tests.services import reply_service
from tests.slack.conftest import GENERAL, bot_messages, events_url, slack_settings
from tests.slack.test_buttons import BOB, button_message, click, wait_button


@pytest.fixture
async def workers(
    slack_fake: SlackFake,
    store: ConversationStore,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    redis_url: str,
) -> AsyncIterator[tuple[SlackBot, SlackBot]]:
    """Worker A serves HTTP (the clicks land there), worker B Socket Mode (the events):
    one database, one Redis."""
    prefix = f"test-{uuid.uuid4().hex}:"
    bots = []
    for http in (True, False):
        redis = await RedisCoordination.connect(redis_url, prefix=prefix)
        service = reply_service(store, client, upstream_settings, coordination=redis)
        settings = Settings(
            _env_file=None,
            upstream=upstream_settings,
            slack=slack_settings(slack_fake, http=http),
        )
        bot = SlackBot(
            settings,
            service=service,
            conversations=Conversations(store),
            catalog=ModelCatalog(upstream_settings),
        )
        await bot.start()
        bots.append((bot, redis))
    await slack_fake.wait_for(lambda: slack_fake.socket.connections, what="socket")
    yield bots[0][0], bots[1][0]
    for bot, redis in bots:
        await bot.stop()
        await redis.close()


async def test_a_stop_clicked_on_one_worker_stops_the_answer_on_another(
    slack_fake: SlackFake,
    workers: tuple[SlackBot, SlackBot],
    upstream: FakeUpstream,
    store: ConversationStore,
) -> None:
    clicked_on, _ = workers
    # Role chunk, "You", " said:", then the stream stalls until the answer is stopped.
    upstream.fail_next(Fault("stall", after_chunks=3, seconds=30))
    mention = slack_fake.payloads.app_mention("tell me a long story")
    await slack_fake.send_event(mention)  # Socket Mode: worker B answers
    thread = mention["ts"]
    stop = await wait_button(slack_fake, thread, STOP_ACTION)

    await click(slack_fake, stop, user=BOB, mode="http", url=events_url(clicked_on))
    await slack_fake.wait_for(lambda: slack_fake.workspace.responses, what="the refusal")
    [refusal] = slack_fake.workspace.responses
    assert refusal["text"] == wording.stop_not_yours("slack")  # who asked is checked on A
    assert button_message(slack_fake, thread, STOP_ACTION) is not None

    await click(slack_fake, stop, mode="http", url=events_url(clicked_on))
    await wait_button(slack_fake, thread, REGENERATE_ACTION)
    [answer] = bot_messages(slack_fake, GENERAL, thread)
    assert wording.stopped_notice() in answer.body
    stored = await store.find_by_message("slack", f"{GENERAL}:{answer.ts}")
    assert stored is not None
    assert stored.turn.status is TurnStatus.INTERRUPTED
