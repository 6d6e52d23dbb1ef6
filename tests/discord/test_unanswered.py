"""Questions a stop left waiting are answered at the next start, where they were asked.

The first bot is stopped (closed, as past the shutdown grace) while one answer
streams and the next question in its conversation waits its turn; the next bot
starts as ``threadline run`` does (``Rig.bot(recover=True)``) on the same store.
"""

from __future__ import annotations

from bot import wording
from bot.domain import Role, ThreadKey, TurnStatus
from tests.discord.harness import REGENERATE, STOP, Rig, button, eventually, has_button
from tests.fakes.discord.model import Message
from tests.fakes.upstream import FakeUpstream, Fault


async def answers_to(rig: Rig, key: ThreadKey, question_id: int) -> list[TurnStatus]:
    window = await rig.store.history(key, token_budget=10**9, max_turns=1000)
    return [
        t.status for t in window.turns if t.role is Role.ASSISTANT and t.reply_to == question_id
    ]


async def stored_question(rig: Rig, message_id: int) -> int:
    """The id of the question's turn, once the bot has stored it."""
    await eventually(lambda: rig.store.find_by_message("discord", str(message_id)))
    found = await rig.store.find_by_message("discord", str(message_id))
    assert found is not None
    assert found.turn.id is not None
    return found.turn.id


async def test_a_question_left_waiting_in_a_thread_is_answered_after_a_restart(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    upstream.fail_next(Fault("stall", after_chunks=3, seconds=30))  # the first answer hangs
    async with rig.bot():
        first = await fake.dispatch_message(content="a long story", mentions_bot=True)
        thread = await rig.thread_of(first)
        await fake.wait_for_message(thread, lambda m: m.author is fake.bot and "said" in m.content)
        second = await fake.dispatch_message(thread, content="and a second one")
        question = await stored_question(rig, second)
    # Stopped: the first answer was cut (and says so), the second question never began.
    [cut] = await rig.answered(thread)
    assert cut.content.endswith(wording.stopped_notice())
    key = ThreadKey("discord", str(fake.guild.id), str(fake.channel().id), str(thread))
    assert await answers_to(rig, key, question) == []

    async with rig.bot(recover=True):
        cut_again, answer = await rig.answered(thread, count=2)
        asked = len(upstream.requests)

    assert cut_again == cut  # the cut answer is not asked again
    assert answer.content == "You said: and a second one"
    assert button(answer, REGENERATE).startswith(REGENERATE)
    assert not has_button(answer, STOP)
    assert upstream.requests[-1]["messages"][-1]["content"] == "and a second one"
    assert await answers_to(rig, key, question) == [TurnStatus.COMPLETE]  # stored once
    stored = await rig.store.get_turn(question)
    assert stored is not None
    assert stored.status is TurnStatus.COMPLETE

    async with rig.bot(recover=True):  # a second restart asks nothing again
        await rig.fake.wait_for(lambda: rig.fake.stats().counts.get("command_syncs") == 3)
    assert len(upstream.requests) == asked
    assert len(rig.bot_messages(thread)) == 2
    assert await answers_to(rig, key, question) == [TurnStatus.COMPLETE]


async def test_a_question_asked_in_place_is_answered_in_its_channel_as_a_reply(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    general = fake.channel().id
    upstream.fail_next(Fault("stall", after_chunks=3, seconds=30))
    async with rig.bot(answer_in_thread=False):
        first = await fake.dispatch_message(content="a long story", mentions_bot=True)
        placeholder = await fake.wait_for_message(general, lambda m: m.author is fake.bot)
        await stored_question(rig, placeholder.id)  # its messages are recorded: replies find it
        second = await fake.dispatch_message(general, content="and then?", reference=placeholder.id)
        question = await stored_question(rig, second)

    def answer_to_second() -> Message | None:
        found = [
            m
            for m in rig.bot_messages(general)
            if m.reference_id == second and has_button(m, REGENERATE)
        ]
        return found[0] if found else None

    async with rig.bot(answer_in_thread=False, recover=True):
        answer = await fake.wait_for(answer_to_second)

    assert answer.content == "You said: and then?"
    assert answer.channel_id == general
    key = ThreadKey("discord", str(fake.guild.id), str(general), str(first))
    assert await answers_to(rig, key, question) == [TurnStatus.COMPLETE]
