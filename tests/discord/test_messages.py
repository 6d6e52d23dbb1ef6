"""Mentions, threads, DMs and replies, answered by the real DiscordBot over real sockets."""

from __future__ import annotations

import dataclasses

from bot import wording
from bot.domain import Role, TurnStatus
from bot.settings import UpstreamSettings
from bot.upstream import UpstreamClient
from storage import MemoryStore
from tests.discord.harness import (
    FAST_DISCORD,
    REGENERATE,
    STOP,
    RecordingDiscord,
    Rig,
    button,
    has_button,
)
from tests.fakes.upstream import Answer, FakeUpstream, Fault
from tests.fakes.upstream.seeds import ERROR_TRACE_ID

PING_ALL = "@everyone <@&123> and <@456>, look!"


async def test_a_mention_opens_a_thread_named_from_the_prompt(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    upstream.answer = Answer(text="WAL keeps a separate log so readers never block writers.")
    async with rig.bot():
        asked = await fake.dispatch_message(
            content="What does WAL mode do in SQLite?", mentions_bot=True
        )
        thread_id = await rig.thread_of(asked)
        [answer] = await rig.answered(thread_id)

    assert fake.world.channels[thread_id].name == "What does WAL mode do in SQLite?"
    assert answer.content == "WAL keeps a separate log so readers never block writers."
    assert [b.custom_id for b in answer.buttons] == [button(answer, REGENERATE)]
    assert "⏳" not in answer.content
    assert answer.history[0] == wording.THINKING_PLACEHOLDER  # shown at once, then edited
    [request] = upstream.requests
    assert request["messages"][-1] == {
        "role": "user",
        "content": "What does WAL mode do in SQLite?",
    }
    assert rig.bot_messages(fake.channel().id) == []  # nothing but the thread in #general


async def test_the_typing_indicator_shows_before_the_first_words(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    upstream.answer = Answer(text="Here it is.")
    async with rig.bot():
        asked = await fake.dispatch_message(content="hello?", mentions_bot=True)
        [answer] = await rig.answered(await rig.thread_of(asked))

    events = fake.world.events
    first_typing = next(e["seq"] for e in events if e["kind"] == "typing")
    first_words = next(
        e["seq"]
        for e in events
        if e["kind"] in ("message_create", "message_update")
        and e["data"]["id"] == answer.id
        and "Here" in e["data"]["content"]
    )
    assert first_typing < first_words


async def test_a_long_answer_continues_in_new_messages(rig: Rig, upstream: FakeUpstream) -> None:
    paragraphs = [f"Paragraph {n}: " + "lorem ipsum dolor sit amet " * 20 for n in range(9)]
    text = "\n\n".join(paragraphs)
    upstream.answer = Answer(text=text)
    async with rig.bot():
        asked = await rig.fake.dispatch_message(content="write a lot", mentions_bot=True)
        thread_id = await rig.thread_of(asked)
        messages = await rig.answered(thread_id)

    assert len(messages) >= 3
    assert all(len(m.content) <= 2000 and "⏳" not in m.content for m in messages)
    assert " ".join(m.content for m in messages).split() == text.split()
    assert [has_button(m, REGENERATE) for m in messages] == [False] * (len(messages) - 1) + [True]
    assert not any(has_button(m, STOP) for m in messages)


async def test_answer_in_place_replies_under_the_mention(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    general = fake.channel().id
    async with rig.bot(answer_in_thread=False):
        asked = await fake.dispatch_message(content="quick one", mentions_bot=True)
        [answer] = await rig.answered(general)

    assert answer.content == "You said: quick one"
    assert answer.reference_id == asked
    assert asked not in fake.world.channels  # no thread


async def test_a_follow_up_in_the_bots_thread_continues_without_a_mention(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    async with rig.bot():
        asked = await fake.dispatch_message(content="My name is Ada.", mentions_bot=True)
        thread_id = await rig.thread_of(asked)
        await rig.answered(thread_id)
        await fake.dispatch_message(thread_id, content="What is my name?")
        await rig.answered(thread_id, count=2)

    assert [m["content"] for m in upstream.requests[-1]["messages"][1:]] == [
        "My name is Ada.",
        "You said: My name is Ada.",
        "What is my name?",
    ]


async def test_a_direct_message_is_answered(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    dm = fake.open_dm("bob")
    async with rig.bot():
        await fake.dispatch_message(dm, content=f"psst, <@{fake.bot.id}> hello")
        [answer] = await rig.answered(dm)
        await fake.dispatch_message(dm, content="and again")
        await rig.answered(dm, count=2)

    assert answer.content == "You said: psst, hello"
    stored = await rig.store.find_by_message("discord", str(answer.id))
    assert stored is not None
    assert (stored.key.workspace, stored.key.channel, stored.key.thread) == ("", str(dm), str(dm))
    assert len(upstream.requests[-1]["messages"]) == 1 + 3  # system + the whole DM


async def test_a_reply_to_the_bots_message_continues_that_conversation(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    general = fake.channel().id
    async with rig.bot(answer_in_thread=False):
        await fake.dispatch_message(content="Remember 42.", mentions_bot=True)
        [first] = await rig.answered(general)
        await fake.dispatch_message(content="unrelated chatter")  # not answered
        reply = await fake.dispatch_message(content="Which number?", reference=first.id)
        answers = await rig.answered(general, count=2)

    assert answers[-1].reference_id == reply
    assert [m["content"] for m in upstream.requests[-1]["messages"][1:]] == [
        "Remember 42.",
        "You said: Remember 42.",
        "Which number?",
    ]
    assert len(upstream.requests) == 2


async def test_a_bare_mention_is_told_what_to_do(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    general = fake.channel().id
    async with rig.bot():
        asked = await fake.dispatch_message(content="", mentions_bot=True)
        [told] = await fake.wait_for(lambda: rig.bot_messages(general) or None)

    assert (told.content, told.reference_id) == (wording.empty_prompt(), asked)
    assert upstream.requests == []


async def test_other_bots_and_itself_are_ignored(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    other = fake.add_user("otherbot")
    other.bot = True
    general = fake.channel().id
    async with rig.bot(answer_in_thread=False):
        await fake.dispatch_message(author=other, content="hey bot", mentions_bot=True)
        await fake.dispatch_message(author=fake.bot, content="talking to myself", mentions_bot=True)
        await fake.dispatch_message(author="alice", content="a human asks", mentions_bot=True)
        messages = await rig.answered(general)

    [answer] = [m for m in messages if has_button(m, REGENERATE)]
    assert answer.content == "You said: a human asks"
    assert len(upstream.requests) == 1


async def test_model_output_never_pings_anyone(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    upstream.answer = Answer(text=PING_ALL)
    async with rig.bot():
        asked = await fake.dispatch_message(content="say it", mentions_bot=True)
        [answer] = await rig.answered(await rig.thread_of(asked))

    assert answer.content == "@\u200beveryone <@\u200b&123> and <@\u200b456>, look!"
    assert not answer.mention_everyone
    assert answer.mentions == []
    sent = [b for b in fake.message_bodies() if "content" in b or "components" in b]
    assert sent
    assert all(b["allowed_mentions"] == {"parse": []} for b in sent if "content" in b)


async def test_an_upstream_error_ends_the_message_with_the_sentence_and_trace_id(
    rig: Rig, upstream: FakeUpstream
) -> None:
    upstream.fail_next(Fault("error", code="token_mismatched"))
    async with rig.bot():
        asked = await rig.fake.dispatch_message(content="hello", mentions_bot=True)
        [answer] = await rig.answered(await rig.thread_of(asked))

    assert answer.content.startswith("⚠️ The model service refused the request (token_mismatched)")
    assert answer.content.endswith(f"(trace id: {ERROR_TRACE_ID})")
    stored = await rig.store.find_by_message("discord", str(answer.id))
    assert stored is not None
    assert (stored.turn.role, stored.turn.status) == (Role.ASSISTANT, TurnStatus.FAILED)


async def test_a_refused_thread_is_answered_in_place_as_a_reply(
    client: UpstreamClient, upstream_settings: UpstreamSettings, upstream: FakeUpstream
) -> None:
    """No Create Public Threads permission: the answer goes to the channel as a reply to
    the mention, and the next reply to it continues the conversation."""
    config = dataclasses.replace(FAST_DISCORD, threads_allowed=False)
    async with RecordingDiscord(config) as fake:
        rig = Rig(fake, MemoryStore(), client, upstream_settings)
        general = fake.channel().id
        async with rig.bot():
            asked = await fake.dispatch_message(content="first question", mentions_bot=True)
            [answer] = await rig.answered(general)
            again = await fake.dispatch_message(content="and a second", reference=int(answer.id))
            await rig.answered(general, count=2)
        refused = fake.requests_to("POST /channels/{channel_id}/messages/{message_id}/threads")
        assert [r.status for r in refused] == [403]
        assert answer.content == "You said: first question"
        assert answer.reference_id == asked
        second = rig.bot_messages(general)[-1]
        assert second.reference_id == again
        assert second.content == "You said: and a second"
        history = [m["content"] for m in upstream.requests[-1]["messages"]]
        assert history[-3:] == ["first question", "You said: first question", "and a second"]
