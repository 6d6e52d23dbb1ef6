"""Stop while an answer streams; Regenerate once it is done, also after a restart."""

from __future__ import annotations

from bot import wording
from bot.domain import TurnStatus
from tests.discord.harness import REGENERATE, STOP, Rig, button, has_button
from tests.fakes.discord.interactions import MESSAGE, UPDATE
from tests.fakes.discord.model import EPHEMERAL
from tests.fakes.upstream import FakeUpstream, Fault


async def test_stop_mid_stream_interrupts_the_answer(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    # Role chunk, "You", " said:", then the stream stalls until the answer is stopped.
    upstream.fail_next(Fault("stall", after_chunks=3, seconds=30))
    async with rig.bot():
        asked = await fake.dispatch_message(content="tell me a long story", mentions_bot=True)
        thread_id = await rig.thread_of(asked)
        streaming = await fake.wait_for_message(
            thread_id, lambda m: m.author is fake.bot and "said" in m.content
        )
        stop = button(streaming, STOP)
        not_yours = await fake.click_button(streaming.id, stop, user="bob")
        await fake.wait_for(lambda: not_yours.acknowledged)
        stopped = await fake.click_button(streaming.id, stop, user="alice")
        [answer] = await rig.answered(thread_id)

    assert not_yours.response_type == MESSAGE
    assert not_yours.response_data is not None
    assert not_yours.response_data["flags"] & EPHEMERAL
    assert not_yours.response_data["content"] == wording.stop_not_yours("discord")
    assert stopped.response_type == UPDATE  # the click itself removed the button
    assert answer.id == streaming.id
    assert answer.content == f"You said:\n\n{wording.stopped_notice()}"
    assert not has_button(answer, STOP)
    stored = await rig.store.find_by_message("discord", str(answer.id))
    assert stored is not None
    assert stored.turn.status is TurnStatus.INTERRUPTED
    assert button(answer, REGENERATE) == f"{REGENERATE}{stored.turn.id}"


async def test_regenerate_writes_a_new_answer(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    async with rig.bot():
        asked = await fake.dispatch_message(content="Tell me a joke.", mentions_bot=True)
        thread_id = await rig.thread_of(asked)
        [first] = await rig.answered(thread_id)
        old = await rig.store.find_by_message("discord", str(first.id))
        click = await fake.click_button(first.id, button(first, REGENERATE))
        again = await rig.interaction_done(click)

    assert click.response_type == UPDATE
    assert first.buttons == []  # the old answer lost its button with the click
    assert again.channel_id == thread_id
    assert again.content == "You said: Tell me a joke."
    assert len(upstream.requests) == 2
    assert upstream.requests[0]["messages"] == upstream.requests[1]["messages"]
    assert old is not None
    assert old.turn.id is not None
    assert (await rig.store.get_turn(old.turn.id)).status is TurnStatus.FAILED  # type: ignore[union-attr]
    new = await rig.store.find_by_message("discord", str(again.id))
    assert new is not None
    assert (new.key, new.turn.status, new.turn.reply_to) == (
        old.key,
        TurnStatus.COMPLETE,
        old.turn.reply_to,
    )
    assert button(again, REGENERATE) == f"{REGENERATE}{new.turn.id}"


async def test_regenerate_still_works_after_a_restart(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    async with rig.bot():
        asked = await fake.dispatch_message(content="Tell me a joke.", mentions_bot=True)
        thread_id = await rig.thread_of(asked)
        [first] = await rig.answered(thread_id)

    async with rig.bot():  # a new DiscordBot and ReplyService; the same database
        click = await fake.click_button(first.id, button(first, REGENERATE))
        again = await rig.interaction_done(click)

    assert again.content == "You said: Tell me a joke."
    assert len(upstream.requests) == 2


async def test_closing_the_bot_finishes_a_streaming_answer(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    upstream.fail_next(Fault("stall", after_chunks=3, seconds=30))
    async with rig.bot():
        asked = await fake.dispatch_message(content="tell me a long story", mentions_bot=True)
        thread_id = await rig.thread_of(asked)
        streaming = await fake.wait_for_message(
            thread_id, lambda m: m.author is fake.bot and "said" in m.content
        )
    # Leaving the block closed the bot mid-answer: no click, no waiting.

    answer = fake.message(streaming.id)
    assert answer.content == f"You said:\n\n{wording.stopped_notice()}"
    stored = await rig.store.find_by_message("discord", str(answer.id))
    assert stored is not None
    assert stored.turn.status is TurnStatus.INTERRUPTED
    assert [b.custom_id for b in answer.buttons] == [f"{REGENERATE}{stored.turn.id}"]


async def test_a_stop_button_a_crash_left_behind_is_removed_when_clicked(rig: Rig) -> None:
    fake = rig.fake
    # The first message of an answer, as a process killed mid-stream leaves it.
    left = await fake.dispatch_message(author=fake.bot, content="You said: ⏳")
    fake.message(left).components = [
        {"type": 1, "components": [{"type": 2, "style": 2, "custom_id": f"{STOP}{left}"}]}
    ]
    async with rig.bot():
        click = await fake.click_button(left, f"{STOP}{left}")
        await fake.wait_for(lambda: click.acknowledged)

    assert click.response_type == UPDATE
    assert fake.message(left).buttons == []


async def test_stop_works_after_a_restart(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    async with rig.bot():
        asked = await fake.dispatch_message(content="Tell me a joke.", mentions_bot=True)
        thread_id = await rig.thread_of(asked)
        await rig.answered(thread_id)

    upstream.fail_next(Fault("stall", after_chunks=3, seconds=30))
    async with rig.bot():  # a new DiscordBot and ReplyService; the same database
        await fake.dispatch_message(thread_id, content="Another one, please.")
        streaming = await fake.wait_for_message(
            thread_id,
            lambda m: (
                m.author is fake.bot
                and m.content.startswith("You said:")
                and not has_button(m, REGENERATE)
            ),
        )
        stopped = await fake.click_button(streaming.id, button(streaming, STOP))
        [_, answer] = await rig.answered(thread_id, count=2)

    assert stopped.response_type == UPDATE
    assert answer.id == streaming.id
    assert answer.content == f"You said:\n\n{wording.stopped_notice()}"
    stored = await rig.store.find_by_message("discord", str(answer.id))
    assert stored is not None
    assert stored.turn.status is TurnStatus.INTERRUPTED
