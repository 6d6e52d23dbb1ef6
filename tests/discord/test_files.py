"""Attachments: images downloaded at once and sent as data: URLs, text inlined, the rest refused."""

from __future__ import annotations

import base64

from bot import wording
from tests.discord.harness import Rig
from tests.fakes.discord import FakeFile
from tests.fakes.upstream import FakeUpstream

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
IMAGE_LIMIT, TEXT_LIMIT = 10 * 1024 * 1024, 32 * 1024


async def test_an_image_goes_to_a_vision_model_as_a_data_url(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    rig.upstream_settings = rig.upstream_settings.model_copy(update={"default_model": "gpt-4"})
    async with rig.bot():
        asked = await fake.dispatch_message(
            content="what is in this picture?",
            attachments=[FakeFile("cat.png", PNG)],
            mentions_bot=True,
        )
        [answer] = await rig.answered(await rig.thread_of(asked))

    assert fake.stats().counts["cdn_served"] == 1  # downloaded while the URL was valid
    [request] = upstream.requests
    assert request["model"] == "gpt-4o"  # gpt-4 cannot read images
    assert request["messages"][-1]["content"] == [
        {"type": "text", "text": "what is in this picture?"},
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
        },
    ]
    assert answer.content.endswith(wording.model_switched("gpt-4o", "gpt-4 cannot read images"))


async def test_a_text_file_is_inlined(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    source = b"def add(a, b):\n    return a + b\n"
    async with rig.bot():
        asked = await fake.dispatch_message(
            content="review this", attachments=[FakeFile("maths.py", source)], mentions_bot=True
        )
        await rig.answered(await rig.thread_of(asked))

    assert upstream.requests[-1]["messages"][-1]["content"] == (
        "review this\n\nmaths.py:\n```py\ndef add(a, b):\n    return a + b\n```"
    )


async def test_an_unsupported_file_is_refused_with_one_sentence(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    general = fake.channel().id
    async with rig.bot():
        asked = await fake.dispatch_message(
            content="summarise this",
            attachments=[FakeFile("report.pdf", b"%PDF-1.7 ...")],
            mentions_bot=True,
        )
        [refusal] = await fake.wait_for(lambda: rig.bot_messages(general) or None)

    assert refusal.content == wording.attachment_refused(
        "report.pdf", "type", IMAGE_LIMIT, TEXT_LIMIT
    )
    assert "PNG, JPEG, WebP and GIF images up to 10 MiB" in refusal.content
    assert refusal.reference_id == asked
    assert upstream.requests == []
    assert asked not in fake.world.channels  # no thread for a refusal


async def test_images_are_checked_for_size_and_type(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    general = fake.channel().id
    async with rig.bot(max_image_bytes=32):
        await fake.dispatch_message(
            content="big", attachments=[FakeFile("big.png", PNG)], mentions_bot=True
        )
        await fake.wait_for(lambda: len(rig.bot_messages(general)) == 1)
        await fake.dispatch_message(
            content="fake", attachments=[FakeFile("fake.gif", b"GIF? no")], mentions_bot=True
        )
        await fake.wait_for(lambda: len(rig.bot_messages(general)) == 2)

    too_big, not_an_image = rig.bot_messages(general)
    assert too_big.content == wording.attachment_refused("big.png", "size", 32, TEXT_LIMIT)
    assert not_an_image.content == wording.attachment_refused("fake.gif", "image", 32, TEXT_LIMIT)
    assert fake.stats().counts.get("cdn_served", 0) == 1  # the big one was never downloaded
    assert upstream.requests == []
