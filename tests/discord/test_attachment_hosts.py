"""Issue 22, 7: an attachment URL off Discord's file hosts is refused with a sentence
and never fetched; the served text never reaches the prompt."""

from __future__ import annotations

from bot import wording
from tests.discord.harness import Rig
from tests.fakes.discord import FakeFile
from tests.fakes.upstream import FakeUpstream
from tests.fetch.trap import trap


async def test_an_attachment_on_another_host_is_refused_unread(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    general = fake.channel().id
    # The fake's own origin (DISCORD__API_BASE) stands for Discord's CDN; another
    # loopback port is "another host", as 127.0.0.1 was in the probe.
    async with trap() as elsewhere, rig.bot():
        fake.signer.base_url_override = elsewhere.origin
        await fake.dispatch_message(
            content="summarise this",
            attachments=[FakeFile("notes.txt", b"what the message claims to carry")],
            mentions_bot=True,
        )
        await fake.wait_for(lambda: elsewhere.requests or rig.bot_messages(general))

    assert elsewhere.requests == []  # never fetched
    assert upstream.requests == []
    [refusal] = rig.bot_messages(general)
    assert refusal.content == wording.attachment_host_refused("notes.txt", "Discord")
