"""Messages that reached Discord while threadline was down are answered at start
(issue 22 point 4: a fresh IDENTIFY replays nothing, so without reading the
channel history they would never be answered), once, and only recent ones."""

from __future__ import annotations

from bot.settings import ConversationLimits
from tests.discord.harness import Rig
from tests.fakes.upstream import Answer, FakeUpstream


async def test_a_message_sent_while_threadline_was_down_is_answered_at_start(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    upstream.answer = Answer()  # "You said: …": which question each answer answers
    async with rig.bot():
        asked = await fake.dispatch_message(content="first question", mentions_bot=True)
        thread = await rig.thread_of(asked)
        await rig.answered(thread)
    missed = await fake.dispatch_message(thread, content="asked while you were down")
    async with rig.bot():
        messages = await rig.answered(thread, count=2, timeout=10)
    assert messages[-1].content == "You said: asked while you were down"
    stored = await rig.store.find_by_message("discord", str(missed))
    assert stored is not None  # stored like any question
    async with rig.bot():  # the start after that answers it no second time
        await rig.answered(thread, count=2, timeout=10)
    assert len(upstream.requests) == 2
    assert len(rig.bot_messages(thread)) == 2


async def test_nothing_is_caught_up_when_reasking_is_off(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    async with rig.bot():
        asked = await fake.dispatch_message(content="first question", mentions_bot=True)
        thread = await rig.thread_of(asked)
        await rig.answered(thread)
    await fake.dispatch_message(thread, content="asked while you were down")
    rig.limits = ConversationLimits(reask_within_seconds=0)
    async with rig.bot():
        await rig.answered(thread)
    assert len(upstream.requests) == 1
