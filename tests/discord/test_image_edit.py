"""Image editing on Discord: an attachment to /image goes as a ``file_url`` part, the
made image is uploaded, and a reply ("make it blue") stays on the image model and
sends the image the bot made."""

from __future__ import annotations

from bot.fetch import Fetcher
from bot.image_flow import ImageFlow
from bot.settings import ImageSettings
from tests.discord.harness import Rig
from tests.fakes.discord import FakeFile
from tests.fakes.upstream import FakeUpstream
from tests.fakes.upstream.seeds import TINY_PNG

LOCAL = ImageSettings(allow_private_addresses=True)


def uploads(rig: Rig, channel_id: int) -> list[bytes]:
    return [
        a.data
        for m in rig.fake.world.messages.values()
        if m.channel_id == channel_id and m.author is rig.fake.bot
        for a in m.attachments
    ]


async def test_an_image_edit_round_trip(rig: Rig, upstream: FakeUpstream) -> None:
    async with Fetcher(LOCAL) as fetcher:
        rig.images = ImageFlow(LOCAL, fetcher=fetcher)
        async with rig.bot():
            asked = await rig.fake.dispatch_slash_command(
                "image", {"prompt": "make it a watercolour", "image": FakeFile("cat.png", TINY_PNG)}
            )
            first = await rig.interaction_done(asked)
            follow = await rig.fake.dispatch_message(
                first.channel_id, content="make it blue", reference=first.id
            )
            await rig.fake.wait_for(lambda: len(upstream.requests) == 2)
            await rig.fake.wait_for(lambda: len(uploads(rig, first.channel_id)) == 2)

    opened, edited = upstream.requests
    assert opened["model"] == "gpt-4o-image"
    assert [p["type"] for p in upstream.parts(0)] == ["file_url"]  # the attachment
    assert edited["model"] == "gpt-4o-image"  # the conversation remembers /image
    assert edited["messages"][-1]["content"][0] == {"type": "text", "text": "make it blue"}
    assert "file_url" in [p["type"] for p in upstream.parts(1)]  # the image the bot made
    assert uploads(rig, first.channel_id) == [TINY_PNG, TINY_PNG]
    assert follow
