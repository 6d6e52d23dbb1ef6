"""A conversation's life, the same on Discord and Slack: asked, streamed, followed up,
edited and deleted (the store keeps what the people see), refused when empty."""

from __future__ import annotations

from bot import wording
from tests.behaviour.chats import MESSAGE_LIMIT, Chat, until_stored
from tests.fakes.upstream import Answer, FakeUpstream, Fault


def sent(upstream: FakeUpstream, request: int = -1) -> list[tuple[str, str]]:
    """(role, content) of one request to the model, after the system prompt."""
    return [(m["role"], m["content"]) for m in upstream.requests[request]["messages"][1:]]


def user_texts(upstream: FakeUpstream) -> list[str]:
    return [content for role, content in sent(upstream) if role == "user"]


async def test_a_mention_gets_a_streamed_answer(chat: Chat, upstream: FakeUpstream) -> None:
    words = "Write-ahead logging keeps a separate log so readers never block writers."
    pieces = tuple(f" {word}" if n else word for n, word in enumerate(words.split()))
    upstream.answer = Answer(pieces=pieces, tokens_per_s=20)  # over half a second
    async with chat.bot():
        await chat.mention("What does WAL mode do?")
        answers = chat.answers()
        shown = chat.times_shown()
    assert answers == [words]
    assert shown >= 3  # it grew while the model wrote, not in one piece at the end
    assert sent(upstream) == [("user", "What does WAL mode do?")]


async def test_a_long_answer_continues_in_new_messages_without_losing_a_word(
    chat: Chat, upstream: FakeUpstream
) -> None:
    paragraphs = [f"Paragraph {n}: " + "lorem ipsum dolor sit amet " * 40 for n in range(14)]
    text = "\n\n".join(paragraphs)  # about 15,000 characters
    upstream.answer = Answer(text=text)
    async with chat.bot():
        await chat.mention("write a lot")
        answers = chat.answers()
    assert len(answers) >= 2
    assert all(len(answer) <= MESSAGE_LIMIT[chat.platform] for answer in answers)
    assert " ".join(answers).split() == text.split()


async def test_a_follow_up_carries_the_threads_history(chat: Chat, upstream: FakeUpstream) -> None:
    async with chat.bot():
        await chat.mention("My name is Ada.")
        await chat.follow_up("What is my name?")
    assert sent(upstream) == [
        ("user", "My name is Ada."),
        ("assistant", "You said: My name is Ada."),
        ("user", "What is my name?"),
    ]
    assert chat.answers()[-1] == "You said: What is my name?"


async def test_quick_follow_ups_are_answered_in_order_each_with_the_one_before(
    chat: Chat, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(tokens_per_s=50)  # echoes, slowly enough for the next to wait
    async with chat.bot():
        await chat.mention("one")
        await chat.follow_up("two", wait=False)
        await chat.follow_up("three", wait=False)
        await chat.until_shown("You said: three")
    assert [r["messages"][-1]["content"] for r in upstream.requests] == ["one", "two", "three"]
    assert sent(upstream)[-3:] == [
        ("user", "two"),
        ("assistant", "You said: two"),
        ("user", "three"),
    ]


async def test_a_direct_message_is_answered_with_the_whole_conversation(
    chat: Chat, upstream: FakeUpstream
) -> None:
    async with chat.bot():
        await chat.dm("hi in private")
        await chat.dm("and again")
    assert chat.answers() == ["You said: hi in private", "You said: and again"]
    assert sent(upstream) == [
        ("user", "hi in private"),
        ("assistant", "You said: hi in private"),
        ("user", "and again"),
    ]


async def test_an_edit_after_the_answer_changes_what_the_next_follow_up_sends(
    chat: Chat, upstream: FakeUpstream
) -> None:
    async with chat.bot():
        asked = await chat.mention("My favourite colour is red.")
        await chat.edit(asked, "My favourite colour is blue.")
        await until_stored(chat, asked, "My favourite colour is blue.")
        await chat.follow_up("What is my favourite colour?")
    assert user_texts(upstream) == ["My favourite colour is blue.", "What is my favourite colour?"]
    assert len(upstream.requests) == 2  # an edit is never answered


async def test_an_edit_while_the_answer_streams_changes_the_stored_question(
    chat: Chat, upstream: FakeUpstream
) -> None:
    upstream.fail_next(Fault("stall", after_chunks=3, seconds=30))
    async with chat.bot():
        asked = await chat.start("My favourite colour is red.")
        await chat.wait_button("stop")  # the answer is streaming
        await chat.edit(asked, "My favourite colour is blue.")
        await until_stored(chat, asked, "My favourite colour is blue.")
        await chat.click("stop", who="member")  # the asker ends the stalled answer
        await chat.wait_button("regenerate")
        await chat.follow_up("What is my favourite colour?")
    assert user_texts(upstream) == ["My favourite colour is blue.", "What is my favourite colour?"]


async def test_a_deleted_question_leaves_the_next_follow_up(
    chat: Chat, upstream: FakeUpstream
) -> None:
    async with chat.bot():
        await chat.mention("My favourite colour is red.")
        aside = await chat.follow_up("Forget this one.")
        await chat.delete(aside)
        await until_stored(chat, aside, None)
        await chat.follow_up("What is my favourite colour?")
    assert user_texts(upstream) == ["My favourite colour is red.", "What is my favourite colour?"]
    # The answer to the deleted question is still in the thread for people to read.
    assert ("assistant", "You said: Forget this one.") in sent(upstream)


async def test_a_question_delivered_twice_is_answered_once(
    chat: Chat, upstream: FakeUpstream
) -> None:
    async with chat.bot():
        await chat.mention("only once")
        await chat.delivered_again()
        told = await chat.refused("")  # a fence: the channel's messages are taken in order
    assert told == chat.rendered(wording.empty_prompt())
    assert [r["messages"][-1]["content"] for r in upstream.requests] == ["only once"]


async def test_other_bots_and_its_own_echo_are_not_answered(
    chat: Chat, upstream: FakeUpstream
) -> None:
    async with chat.bot():
        await chat.bot_mentions("hey bot", own=False)
        await chat.bot_mentions("talking to myself", own=True)
        await chat.mention("a human asks")  # answered after the two before it
    assert len(upstream.requests) == 1
    assert sent(upstream) == [("user", "a human asks")]


async def test_a_bare_mention_is_told_what_to_do(chat: Chat, upstream: FakeUpstream) -> None:
    async with chat.bot():
        told = await chat.refused("")
    assert told == chat.rendered(wording.empty_prompt())
    assert upstream.requests == []
