"""/image on Slack: the made image is shared into the thread (files_upload_v2)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.fetch import Fetcher
from bot.image_flow import ImageFlow
from bot.ports import ConversationStore
from bot.service import ReplyService
from bot.settings import ImageSettings, UpstreamSettings
from bot.upstream import UpstreamClient
from tests.fakes.slack import SlackFake
from tests.fakes.upstream import FakeUpstream
from tests.fakes.upstream.seeds import TINY_PNG
from tests.services import reply_service
from tests.slack.conftest import GENERAL, MakeBot, bot_messages
from tests.slack.test_commands import run_command

LOCAL = ImageSettings(allow_private_addresses=True)


@pytest.fixture
async def service(
    store: ConversationStore, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> AsyncIterator[ReplyService]:
    async with Fetcher(LOCAL) as fetcher:
        yield reply_service(
            store, client, upstream_settings, images=ImageFlow(LOCAL, fetcher=fetcher)
        )


async def test_image_shares_the_made_image_in_the_thread_with_link_free_text(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    bot = await make_bot()
    await run_command(slack_fake, "/image", "a lighthouse at dusk")
    await slack_fake.wait_for(lambda: upstream.requests, what="an upstream request")
    await bot.idle()
    [question] = [m for m in bot_messages(slack_fake, GENERAL) if m.thread_ts is None]
    replies = bot_messages(slack_fake, GENERAL, question.ts)
    shared = [m for m in replies if m.files]
    assert len(shared) == 1
    assert shared[0].files == ("s8EFrYVqeRWc5SfTmF1SbgBS2WFGXb.png",)
    assert [f.content for f in slack_fake.workspace.files.values()] == [TINY_PNG]
    text = "\n".join(m.body for m in replies if not m.files)
    assert "吉卜力" in text
    assert "http" not in text
    assert "下载" not in text
