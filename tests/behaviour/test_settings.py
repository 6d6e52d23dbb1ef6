"""/model, /system and /reset: the same rules on Discord and Slack (bot/conversation_settings.py)."""

from __future__ import annotations

from bot import wording
from tests.behaviour.chats import Chat
from tests.fakes.upstream import FakeUpstream


def user_texts(upstream: FakeUpstream) -> list[str]:
    """What the last request to the model held, after the system prompt."""
    return [m["content"] for m in upstream.requests[-1]["messages"][1:] if m["role"] == "user"]


async def test_a_member_may_not_change_the_channel_and_is_told_who_may(
    chat: Chat, upstream: FakeUpstream
) -> None:
    async with chat.bot():
        model = await chat.command("/model", "gpt-4")
        system = await chat.command("/system", "Answer like a pirate.")
        shown = await chat.command("/system")
    refusal = wording.settings_need_admin(chat.platform)
    assert (model.text, model.public) == (refusal, False)
    assert (system.text, system.public) == (refusal, False)
    assert shown.text == wording.system_shown(None, "channel")  # anyone may look
    settings = await chat.store.settings(chat.channel_key())
    assert (settings.model, settings.system_prompt) == (None, None)


async def test_an_admin_sets_the_channel_model_and_its_threads_follow(
    chat: Chat, upstream: FakeUpstream
) -> None:
    async with chat.bot():
        said = await chat.command("/model", "gpt-4", who="admin")
        await chat.mention("which model?")
    assert said.public
    assert "`gpt-4`" in said.text
    assert upstream.requests[-1]["model"] == "gpt-4"


async def test_someone_on_the_admin_list_may_change_the_system_prompt(
    chat: Chat, upstream: FakeUpstream
) -> None:
    async with chat.bot():
        said = await chat.command("/system", "Answer like a pirate.", who="listed")
        await chat.mention("ahoy")
        cleared = await chat.command("/system", who="listed", clear=True)
        await chat.mention("hello again")
    assert said.public
    assert upstream.requests[0]["messages"][0]["content"].startswith("Answer like a pirate.")
    assert cleared.public
    assert not upstream.requests[1]["messages"][0]["content"].startswith("Answer like a pirate.")


async def test_a_thread_keeps_its_own_model_and_inherits_the_channel_prompt(
    chat: Chat, upstream: FakeUpstream
) -> None:
    async with chat.bot():
        await chat.command("/system", "Answer like a pirate.", who="admin")
        await chat.mention("first")
        said = await chat.command("/model", "gpt-4", where="thread", who="admin")
        await chat.follow_up("second")
        in_thread = upstream.requests[-1]
        await chat.mention("elsewhere")
    assert "thread" in said.text
    assert in_thread["model"] == "gpt-4"
    assert in_thread["messages"][0]["content"].startswith("Answer like a pirate.")
    assert upstream.requests[-1]["model"] == "gpt-4o-mini"  # the channel keeps the default


async def test_anyone_may_choose_a_model_for_their_own_ask(
    chat: Chat, upstream: FakeUpstream
) -> None:
    async with chat.bot():
        await chat.ask("pick a colour", model="gpt-4")
    assert upstream.requests[-1]["model"] == "gpt-4"


async def test_reset_in_a_thread_starts_it_afresh(chat: Chat, upstream: FakeUpstream) -> None:
    async with chat.bot():
        await chat.mention("remember 42")
        said = await chat.command("/reset", where="thread")
        await chat.follow_up("which number?")
    assert (said.text, said.public) == (wording.reset_done("thread"), True)
    assert user_texts(upstream) == ["which number?"]


async def test_reset_in_a_direct_message_starts_it_afresh(
    chat: Chat, upstream: FakeUpstream
) -> None:
    async with chat.bot():
        await chat.dm("remember 42")
        said = await chat.command("/reset", where="dm")
        await chat.dm("which number?")
    assert said.text == wording.reset_done("conversation")
    assert user_texts(upstream) == ["which number?"]


async def test_reset_in_a_channel_says_what_it_can_reset(chat: Chat) -> None:
    async with chat.bot():
        said = await chat.command("/reset")
    assert (said.text, said.public) == (wording.reset_in_channel(), False)


async def test_parameters_follow_the_same_rule_as_the_model(
    chat: Chat, upstream: FakeUpstream
) -> None:
    async with chat.bot():
        refused = await chat.command("/settings", temperature=0.5)
        shown = await chat.command("/settings")
        said = await chat.command("/settings", temperature=0.5, who="admin")
        await chat.mention("how warm?")
    assert (refused.text, refused.public) == (wording.settings_need_admin(chat.platform), False)
    assert not shown.public  # anyone may look
    assert said.public
    assert upstream.requests[-1]["temperature"] == 0.5
