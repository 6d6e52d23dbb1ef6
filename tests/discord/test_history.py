"""A user who edits or deletes a message changes the stored history to match."""

from __future__ import annotations

import discord

from tests.discord.harness import Rig, eventually
from tests.fakes.upstream import FakeUpstream


async def test_edits_and_deletions_change_the_stored_history(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    store = rig.store
    mention = f"<@{fake.bot.id}> "

    async def text_of(message_id: int) -> str | None:
        stored = await store.find_by_message("discord", str(message_id))
        return stored.turn.text if stored is not None else None

    async with rig.bot():
        asked = await fake.dispatch_message(content=mention + "My favourite colour is red.")
        thread_id = await rig.thread_of(asked)
        await rig.answered(thread_id)
        aside = await fake.dispatch_message(thread_id, content="Forget this one.")
        await rig.answered(thread_id, count=2)

        await fake.dispatch_message_update(asked, mention + "My favourite colour is blue.")
        await fake.dispatch_message_delete(aside)

        async def updated() -> bool:
            return await text_of(asked) == "My favourite colour is blue." and (
                await text_of(aside) is None
            )

        await eventually(updated)
        await fake.dispatch_message(thread_id, content="What is my favourite colour?")
        await rig.answered(thread_id, count=3)

    assert [m["content"] for m in upstream.requests[-1]["messages"][1:]] == [
        "My favourite colour is blue.",
        "You said: My favourite colour is red.",
        "You said: Forget this one.",  # the bot's answer is still there to read
        "What is my favourite colour?",
    ]


async def test_the_bots_own_edits_and_unknown_messages_change_nothing(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    async with rig.bot():
        chatter = await fake.dispatch_message(content="not for the bot")
        await fake.dispatch_message_update(chatter, "still not for the bot")
        asked = await fake.dispatch_message(content="hello", mentions_bot=True)
        [answer] = await rig.answered(await rig.thread_of(asked))

    assert await rig.store.find_by_message("discord", str(chatter)) is None
    stored = await rig.store.find_by_message("discord", str(answer.id))
    assert stored is not None
    assert stored.turn.text == "You said: hello"


async def test_the_bots_own_edits_are_dropped_before_discord_py_decodes_them(
    rig: Rig, upstream: FakeUpstream
) -> None:
    """A streamed answer's edits echo back as MESSAGE_UPDATE; only a user's edit is an event."""
    fake = rig.fake
    edited: list[int] = []
    async with rig.bot() as bot:

        async def on_raw_message_edit(event: discord.RawMessageUpdateEvent) -> None:
            edited.append(event.message_id)

        bot.add_listener(on_raw_message_edit)
        asked = await fake.dispatch_message(content="hello", mentions_bot=True)
        [answer] = await rig.answered(await rig.thread_of(asked))
        await fake.dispatch_message_update(asked, f"<@{fake.bot.id}> hello again")
        await eventually(lambda: asked in edited)

    assert answer.edit_count >= 1  # the answer was edited, and each edit was echoed
    assert edited == [asked]
