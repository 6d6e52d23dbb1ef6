"""Shared files: downloaded with the bot token, sniffed and capped, or refused in one sentence."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from adapters.slack.files import FileReader, slack_downloader
from adapters.slack.translate import shared_files
from bot import wording
from bot.domain import ConversationSettings, ThreadKey
from bot.files import FileLimits, sniff_image
from bot.ports import ConversationStore
from bot.render import render_slack
from bot.settings import SlackSettings, UpstreamSettings
from tests.fakes.slack import SlackFake
from tests.fakes.slack.files import SIGN_IN_PAGE
from tests.fakes.slack.state import StoredFile
from tests.fakes.upstream import FakeUpstream
from tests.slack.conftest import BOT, DM, GENERAL, TEAM, MakeBot, shown, wait_shown

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # the magic number is what is checked
LIMITS = SlackSettings()


def refused(name: str, problem: str, image_limit: int = LIMITS.max_image_bytes) -> str:
    """The refusal as the thread shows it (mrkdwn)."""
    sentence = wording.attachment_refused(name, problem, image_limit, LIMITS.max_text_file_bytes)
    return render_slack(sentence)


def with_files(event: dict[str, Any], fake: SlackFake, *files: StoredFile) -> dict[str, Any]:
    """Slack's ``app_mention`` for a message with uploads carries their file objects too."""
    return event | {"files": [fake.workspace.file_json(f) for f in files], "upload": True}


def last_user_content(upstream: FakeUpstream) -> Any:
    return upstream.requests[-1]["messages"][-1]["content"]


@pytest.mark.parametrize("where", ["dm", "mention"])
async def test_an_image_reaches_the_vision_model_as_an_image_url_part(
    slack_fake: SlackFake,
    make_bot: MakeBot,
    upstream: FakeUpstream,
    store: ConversationStore,
    upstream_settings: UpstreamSettings,
    where: str,
) -> None:
    bot = await make_bot()
    image = slack_fake.workspace.add_file("whiteboard.png", PNG, "image/png")
    if where == "dm":
        channel = DM
        event = slack_fake.payloads.message("what does it say?", channel=DM, files=[image])
    else:
        channel = GENERAL
        event = with_files(slack_fake.payloads.app_mention("what does it say?"), slack_fake, image)
    # The channel's model cannot read images: the core routes this answer to a vision model.
    await store.save_settings(
        ThreadKey("slack", TEAM, channel, ""), ConversationSettings(model="gpt-4")
    )
    await slack_fake.send_event(event)
    await slack_fake.wait_for(lambda: upstream.requests, what="the upstream request")
    await bot.idle()

    assert slack_fake.files.downloads == [{"file_id": image.id, "authorized": True}]
    request = upstream.requests[-1]
    assert request["model"] == upstream_settings.vision_model
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert last_user_content(upstream) == [
        {"type": "text", "text": "what does it say?"},
        {"type": "image_url", "image_url": {"url": data_url}},
    ]
    thread = None if where == "dm" else event["ts"]
    assert "gpt-4 cannot read images" in shown(slack_fake, channel, thread)


async def test_a_text_file_is_inlined_fenced_under_its_name(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    bot = await make_bot()
    code = slack_fake.workspace.add_file("retry.py", b"def retry():\n    pass\n", "text/plain")
    await slack_fake.send_event(
        slack_fake.payloads.message("review this", channel=DM, files=[code])
    )
    await slack_fake.wait_for(lambda: upstream.requests, what="the upstream request")
    await bot.idle()
    assert (
        last_user_content(upstream)
        == "review this\n\nretry.py:\n```py\ndef retry():\n    pass\n```"
    )


async def test_an_unsupported_file_is_refused_with_what_is_supported(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    bot = await make_bot()
    image = slack_fake.workspace.add_file("chart.png", PNG, "image/png")
    pdf = slack_fake.workspace.add_file("report.pdf", b"%PDF-1.7\n", "application/pdf")
    mention = with_files(slack_fake.payloads.app_mention("summarise"), slack_fake, image, pdf)
    await slack_fake.send_event(mention)
    await wait_shown(slack_fake, GENERAL, mention["ts"], refused("report.pdf", "type"))
    await bot.idle()
    assert "PNG, JPEG, WebP and GIF images" in refused("report.pdf", "type")
    assert slack_fake.files.downloads == []  # checked from the metadata: nothing fetched
    assert upstream.stats.requests == 0


@pytest.mark.parametrize("declared", ["honest", "understated"])
async def test_an_oversize_image_is_refused(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream, declared: str
) -> None:
    bot = await make_bot(max_image_bytes=1_024)  # PNG is 1,032 bytes
    image = slack_fake.workspace.add_file("big.png", PNG, "image/png")
    event = slack_fake.payloads.message("look", channel=DM, files=[image])
    if declared == "understated":  # the metadata says small: the download itself is capped
        event["files"][0]["size"] = 100
    await slack_fake.send_event(event)
    await wait_shown(slack_fake, DM, None, refused("big.png", "size", image_limit=1_024))
    await bot.idle()
    assert len(slack_fake.files.downloads) == (1 if declared == "understated" else 0)
    assert upstream.stats.requests == 0


async def test_bytes_that_are_not_an_image_are_refused(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    bot = await make_bot()
    fake_png = slack_fake.workspace.add_file("photo.png", b"GIF88 not really", "image/png")
    await slack_fake.send_event(slack_fake.payloads.message("", channel=DM, files=[fake_png]))
    await wait_shown(slack_fake, DM, None, refused("photo.png", "image"))
    await bot.idle()
    assert upstream.stats.requests == 0


@pytest.mark.parametrize(
    ("name", "mimetype"), [("cat.png", "image/png"), ("log.txt", "text/plain")]
)
async def test_slack_s_sign_in_page_is_never_taken_for_the_file(
    slack_fake: SlackFake, name: str, mimetype: str
) -> None:
    """Without the bot token url_private answers 200 with HTML: it is refused, not read."""
    stored = slack_fake.workspace.add_file(name, PNG, mimetype)
    [file] = shared_files([slack_fake.workspace.file_json(stored)])
    limits = FileLimits(LIMITS.max_image_bytes, LIMITS.max_text_file_bytes)
    async with slack_downloader("xoxb-not-the-bot-token", slack_fake.base_url) as downloader:
        files = await FileReader(downloader, limits).read([file])
    assert files.refusal == wording.attachment_unavailable(name, "slack")
    assert (files.images, files.texts) == ((), ())
    assert slack_fake.files.downloads == [{"file_id": stored.id, "authorized": False}]
    assert sniff_image(SIGN_IN_PAGE.encode()) is None  # and sniffing alone refuses it too


async def test_a_file_without_words_is_still_a_question(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    bot = await make_bot()
    image = slack_fake.workspace.add_file("diagram.gif", b"GIF89a" + PNG, "image/gif")
    mention = with_files(slack_fake.payloads.app_mention(f"<@{BOT}>"), slack_fake, image)
    await slack_fake.send_event(mention)
    await slack_fake.wait_for(lambda: upstream.requests, what="the upstream request")
    await bot.idle()
    [part] = last_user_content(upstream)
    assert part["image_url"]["url"].startswith("data:image/gif;base64,")
    assert wording.empty_prompt() not in shown(slack_fake, GENERAL, mention["ts"])
