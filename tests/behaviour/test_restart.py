"""A restart, the same on Discord and Slack: a question asked in a thread while the bot
was down is read back from the platform at the next start and answered, once."""

from __future__ import annotations

from tests.behaviour.chats import Chat
from tests.fakes.upstream import FakeUpstream


async def test_a_question_asked_while_the_bot_was_down_is_answered_after_start(
    chat: Chat, upstream: FakeUpstream
) -> None:
    async with chat.bot():
        await chat.mention("first question")
    await chat.follow_up_while_down("asked while you were down")
    async with chat.bot(recover=True):
        shown = await chat.until_shown("asked while you were down")
    asked = upstream.requests[-1]["messages"][-1]["content"]
    assert asked == "asked while you were down"
    assert shown.startswith("You said: first question")
    async with chat.bot(recover=True):  # the start after that answers it no second time
        await chat.caught_up()
        await chat.follow_up("and now?")  # answered after anything the read handed on
    asked_in_turn = [r["messages"][-1]["content"] for r in upstream.requests]
    assert asked_in_turn == ["first question", "asked while you were down", "and now?"]
    assert len(chat.answers()) == 3
