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


async def test_an_image_edit_round_trip_in_an_image_thread(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    """/image opens a thread on the image model; a file shared there with "make it blue"
    goes as a file_url part, with the image the bot made, and the new image is shared."""
    bot = await make_bot()
    await run_command(slack_fake, "/image", "a lighthouse at dusk")
    await slack_fake.wait_for(lambda: upstream.requests, what="the first request")
    await bot.idle()
    [question] = [m for m in bot_messages(slack_fake, GENERAL) if m.thread_ts is None]
    sketch = slack_fake.workspace.add_file("sketch.png", TINY_PNG, "image/png")
    event = slack_fake.payloads.message("make it blue", thread_ts=question.ts, files=[sketch])
    await slack_fake.send_event(event)
    await slack_fake.wait_for(lambda: len(upstream.requests) == 2, what="the edit request")
    await bot.idle()

    edit = upstream.requests[1]
    assert edit["model"] == "gpt-4o-image"  # the thread remembers /image
    kinds = [p["type"] for p in upstream.parts(1)]
    assert kinds == ["file_url", "file_url"]  # the shared sketch and the made image
    assert edit["messages"][-1]["content"][0] == {"type": "text", "text": "make it blue"}
    shared = [m for m in bot_messages(slack_fake, GENERAL, question.ts) if m.files]
    assert len(shared) == 2  # a new image in the thread
