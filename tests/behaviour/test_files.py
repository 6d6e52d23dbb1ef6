"""Attachments, the same on Discord and Slack (bot/files.py): an image goes to a model that
can read it, a file the bot cannot read is refused with one sentence and nothing is asked."""

from __future__ import annotations

import base64

from bot import wording
from bot.conversation import estimate_tokens
from bot.settings import UpstreamSettings
from tests.behaviour.chats import Chat, File, until_stored
from tests.fakes.upstream import FakeUpstream

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))  # the magic number is what is checked
PICTURE = File("whiteboard.png", PNG, "image/png")
# The defaults on both platforms (DISCORD__MAX_IMAGE_BYTES, SLACK__MAX_IMAGE_BYTES, and
# the text file limits).
IMAGE_LIMIT, TEXT_LIMIT = 10 * 1024 * 1024, 32 * 1024


def refusal(name: str, problem: str, image_limit: int = IMAGE_LIMIT) -> str:
    """The sentence for a refused file: the same words on both platforms. (The wording
    package calls it ``attachment_refused``; this is its old name, kept there.)"""
    return wording.attachment_refused(name, problem, image_limit, TEXT_LIMIT)


async def test_an_image_goes_to_the_vision_model(
    chat: Chat, upstream: FakeUpstream, upstream_settings: UpstreamSettings
) -> None:
    async with chat.bot():
        await chat.command("/model", "gpt-4", who="admin")  # a model that cannot read images
        await chat.mention("what does it say?", files=[PICTURE])
        shown = "".join(chat.answers())
    [request] = upstream.requests
    vision = upstream_settings.vision_model
    assert request["model"] == vision
    assert request["messages"][-1]["content"] == [
        {"type": "text", "text": "what does it say?"},
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
        },
    ]
    assert chat.rendered(wording.model_switched(vision, "gpt-4 cannot read images")) in shown


async def test_an_unsupported_file_is_refused_with_what_is_supported(
    chat: Chat, upstream: FakeUpstream
) -> None:
    pdf = File("report.pdf", b"%PDF-1.7\n", "application/pdf")
    async with chat.bot():
        told = await chat.refused("summarise this", files=[pdf])
    assert told == chat.rendered(refusal("report.pdf", "type"))
    assert "PNG, JPEG, WebP and GIF images up to 10 MiB" in told
    assert upstream.requests == []


async def test_an_oversized_image_is_refused(chat: Chat, upstream: FakeUpstream) -> None:
    async with chat.bot(max_image_bytes=32):
        told = await chat.refused("look", files=[PICTURE])
    assert told == chat.rendered(refusal(PICTURE.name, "size", image_limit=32))
    assert upstream.requests == []


async def test_an_edited_question_still_counts_its_image(chat: Chat) -> None:
    """The context budget counts a question's images (estimate_tokens); editing its words
    must not drop them from the count."""
    async with chat.bot():
        asked = await chat.mention("what does it say?", files=[PICTURE])
        await chat.edit(asked, "what does the whiteboard say?")
        await until_stored(chat, asked, "what does the whiteboard say?")
        turn = await chat.stored(asked)
    assert turn is not None
    assert len(turn.parts) == 1  # the picture (the words are the turn's text)
    assert turn.tokens == estimate_tokens(turn.text, turn.parts)
