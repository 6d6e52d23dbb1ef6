"""Access lists: the same rule on Discord and Slack (bot/access.py); a block always wins."""

from __future__ import annotations

from typing import Any

from bot import wording
from tests.behaviour.chats import DM_BELONGS_TO_WORKSPACE, WORKSPACE_LISTS, Chat
from tests.fakes.upstream import FakeUpstream


async def test_a_blocked_person_is_ignored_even_when_allowed(
    chat: Chat, upstream: FakeUpstream
) -> None:
    member, admin = chat.user_id("member"), chat.user_id("admin")
    async with chat.bot(allowed_user_ids=[member, admin], blocked_user_ids=[member]):
        await chat.mention_unanswered("keep me out")
        await chat.mention("let me in", who="admin")  # answered after the refused one
        refused = await chat.command("/usage")
    assert [m["content"] for m in upstream.requests[-1]["messages"][1:]] == ["let me in"]
    assert len(upstream.requests) == 1
    assert (refused.text, refused.public) == (wording.not_allowed(), False)


async def test_someone_off_the_allow_list_is_ignored(chat: Chat, upstream: FakeUpstream) -> None:
    async with chat.bot(allowed_user_ids=[chat.user_id("admin")]):
        await chat.mention_unanswered("keep me out")
        await chat.mention("let me in", who="admin")
        refused = await chat.command("/model", "gpt-4")
    assert len(upstream.requests) == 1
    assert refused.text == wording.not_allowed()


async def test_a_blocked_workspace_reaches_direct_messages_only_where_they_belong_to_it(
    chat: Chat, upstream: FakeUpstream
) -> None:
    """The one named difference (chats.DM_BELONGS_TO_WORKSPACE)."""
    _, blocked = WORKSPACE_LISTS[chat.platform]
    lists: dict[str, Any] = {blocked: [chat.workspace_id()]}
    async with chat.bot(**lists):
        if DM_BELONGS_TO_WORKSPACE[chat.platform]:
            await chat.dm_unanswered("psst")
            refused = await chat.command("/reset", where="dm")
            assert refused.text == wording.not_allowed()
            assert upstream.requests == []
        else:
            await chat.dm("psst")
            assert [m["content"] for m in upstream.requests[-1]["messages"][1:]] == ["psst"]
        await chat.mention_unanswered("in the channel")
        await chat.command("/usage")  # refused in the channel on both: a fence for the mention
    assert len(upstream.requests) == (0 if DM_BELONGS_TO_WORKSPACE[chat.platform] else 1)


async def test_a_blocked_channel_is_ignored_even_when_allowed(
    chat: Chat, upstream: FakeUpstream
) -> None:
    channel = chat.channel_key().channel
    async with chat.bot(allowed_channel_ids=[channel], blocked_channel_ids=[channel]):
        await chat.mention_unanswered("anyone there?")
        refused = await chat.command("/usage")  # a fence: the mention was dealt with first
        await chat.dm("in private, then")
    assert refused.text == wording.not_allowed()
    assert [m["content"] for m in upstream.requests[-1]["messages"][1:]] == ["in private, then"]
    assert len(upstream.requests) == 1


async def test_a_thread_counts_as_the_channel_it_is_in(chat: Chat, upstream: FakeUpstream) -> None:
    async with chat.bot(allowed_channel_ids=[chat.channel_key().channel]):
        await chat.mention("first")
        await chat.follow_up("second")  # in the thread: allowed as its channel is
    assert len(upstream.requests) == 2


async def test_direct_messages_can_be_turned_off(chat: Chat, upstream: FakeUpstream) -> None:
    async with chat.bot(allow_dms=False):
        await chat.dm_unanswered("psst")
        refused = await chat.command("/reset", where="dm")  # a fence, refused as well
        await chat.mention("in the channel")
    assert refused.text == wording.not_allowed()
    assert [m["content"] for m in upstream.requests[-1]["messages"][1:]] == ["in the channel"]
    assert len(upstream.requests) == 1
