"""Allow- and block-lists of guilds, channels, roles and users."""

from __future__ import annotations

from adapters.discord.translate import Requester, may_use
from bot import wording
from bot.settings import DiscordSettings
from tests.discord.harness import Rig
from tests.fakes.discord.interactions import MESSAGE
from tests.fakes.upstream import FakeUpstream


async def test_a_blocked_user_gets_no_answer(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    general = fake.channel().id
    bob = fake.user("bob")
    async with rig.bot(answer_in_thread=False, blocked_user_ids=[bob.id]):
        await fake.dispatch_message(author="bob", content="me first", mentions_bot=True)
        refused = await fake.dispatch_slash_command("ask", {"prompt": "hi"}, user="bob")
        await fake.wait_for(lambda: refused.acknowledged)
        await fake.dispatch_message(author="alice", content="me too", mentions_bot=True)
        [answer] = await rig.answered(general)

    assert answer.content == "You said: me too"
    assert len(upstream.requests) == 1
    assert refused.response_type == MESSAGE
    assert refused.response_data is not None
    assert refused.response_data["content"] == wording.not_allowed()


async def test_a_channel_not_on_the_allow_list_is_ignored(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    general, random = fake.channel("general").id, fake.channel("random").id
    async with rig.bot(answer_in_thread=False, allowed_channel_ids=[general]):
        await fake.dispatch_message(random, content="over here?", mentions_bot=True)
        await fake.dispatch_message(general, content="and here?", mentions_bot=True)
        [answer] = await rig.answered(general)

    assert answer.content == "You said: and here?"
    assert rig.bot_messages(random) == []
    assert len(upstream.requests) == 1


def who(
    user: int = 1,
    roles: set[int] | None = None,
    guild: int | None = 10,
    places: set[int] | None = None,
) -> Requester:
    return Requester(user, frozenset(roles or ()), guild, frozenset(places or {100}))


def test_the_lists_combine_as_documented() -> None:
    everyone = DiscordSettings()
    assert may_use(everyone, who())
    assert may_use(everyone, who(guild=None, places=set()))  # a DM

    roles = DiscordSettings(allowed_role_ids=[7], allowed_user_ids=[2])
    assert may_use(roles, who(roles={7}))
    assert may_use(roles, who(user=2))  # either list lets a person in
    assert not may_use(roles, who(user=3, roles={8}))
    assert not may_use(roles, who(user=3, guild=None, places=set()))  # no roles in a DM

    places = DiscordSettings(allowed_guild_ids=[10], allowed_channel_ids=[200])
    assert may_use(places, who(places={100, 200}))  # a thread whose parent is allowed
    assert not may_use(places, who(places={100}))
    assert not may_use(places, who(guild=11, places={200}))

    blocked = DiscordSettings(
        allowed_user_ids=[1], blocked_role_ids=[9], blocked_channel_ids=[300], allow_dms=False
    )
    assert not may_use(blocked, who(roles={9}))  # a block beats an allow
    assert not may_use(blocked, who(places={100, 300}))  # a category blocks its channels
    assert not may_use(blocked, who(guild=None, places=set()))
    assert not may_use(DiscordSettings(blocked_guild_ids=[10]), who())
