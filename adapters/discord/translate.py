"""discord.py objects in, threadline's domain types and decisions out. No I/O.

Everything the adapter decides about a message or an interaction — answer it or
not, in which conversation, may this person use the bot here, what the prompt
says, what a new thread is called, which attachments can be read — is a pure
function of the discord.py objects here, so it can be tested without a gateway.

Conversations (``ThreadKey("discord", guild, channel, thread)``):

- a thread: (guild id, parent channel id, thread id);
- a direct message: ("", DM channel id, DM channel id);
- a conversation started in place in a channel: (guild id, channel id, id of the
  message or interaction that started it) — a thread created from a message
  shares the message's id (Start Thread from Message,
  https://discord.com/developers/docs/resources/channel#start-thread-from-message),
  so both modes name a mention's conversation the same way;
- channel-wide settings (``/model``, ``/system``): (guild id, channel id, "").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import discord

from bot import access
from bot.conversation_settings import Changer
from bot.domain import Attachment, Incoming, ThreadKey

if TYPE_CHECKING:
    from bot.settings import DiscordSettings

PLATFORM = "discord"

# "name: 1-100 character channel name" (Start Thread from Message).
MAX_THREAD_NAME = 100
# Messages a person writes; system messages (joins, pins, "started a thread") are not questions.
# https://discord.com/developers/docs/resources/message#message-object-message-types
ANSWERABLE_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_CHANNEL_MENTION = re.compile(r"<#(\d+)>")

Channel = (
    discord.TextChannel
    | discord.VoiceChannel
    | discord.StageChannel
    | discord.ForumChannel
    | discord.CategoryChannel
    | discord.Thread
    | discord.DMChannel
    | discord.GroupChannel
    | discord.PartialMessageable
)


# -- conversations ---------------------------------------------------------------


class Trigger(StrEnum):
    """Why a message gets an answer."""

    DIRECT = "direct message"
    BOT_THREAD = "thread the bot started"
    REPLY = "reply to the bot"
    MENTION = "mention"


def trigger_of(message: discord.Message, *, bot_id: int, bot_role_id: int | None) -> Trigger | None:
    """Should ``message`` be answered, and why; ``None`` ignores it.

    Bots (itself included) and webhooks are never answered: two bots answering
    each other would loop forever.
    """
    if message.author.bot or message.webhook_id is not None or message.author.id == bot_id:
        return None
    # discord.py wraps an unknown type's raw value, which may be a list and unhashable.
    if not isinstance(message.type.value, int) or message.type not in ANSWERABLE_TYPES:
        return None
    channel = message.channel
    if isinstance(channel, discord.DMChannel):
        return Trigger.DIRECT
    if isinstance(channel, discord.Thread) and channel.owner_id == bot_id:
        return Trigger.BOT_THREAD
    if replied_to_bot(message, bot_id) is not None:
        return Trigger.REPLY
    if mentions_bot(message, bot_id=bot_id, bot_role_id=bot_role_id):
        return Trigger.MENTION
    return None


def replied_to_bot(message: discord.Message, bot_id: int) -> int | None:
    """The id of the bot's message that ``message`` replies to (Discord's reply feature)."""
    reference = message.reference
    if reference is None or reference.message_id is None:
        return None
    replied = reference.resolved
    if isinstance(replied, discord.Message) and replied.author.id == bot_id:
        return replied.id
    return None


def mentions_bot(message: discord.Message, *, bot_id: int, bot_role_id: int | None) -> bool:
    """An @mention of the bot in the text, or of its managed role (clients offer both).

    ``raw_mentions`` reads the text, so the implicit mention of a reply's author
    (``message.mentions`` includes it) does not count as asking the bot.
    """
    if bot_id in message.raw_mentions:
        return True
    return bot_role_id is not None and bot_role_id in message.raw_role_mentions


def place_key(channel: Channel | None) -> ThreadKey:
    """The conversation of the place itself: a thread's or DM's, else the channel's settings key."""
    if isinstance(channel, discord.DMChannel | discord.GroupChannel):
        return dm_key(channel.id)
    if isinstance(channel, discord.Thread):
        return thread_key(channel.guild.id, channel.parent_id, channel.id)
    if channel is None:
        return ThreadKey(PLATFORM, "", "", "")
    guild_id = getattr(channel, "guild_id", None)
    if guild_id is None:
        guild = getattr(channel, "guild", None)
        guild_id = guild.id if guild is not None else None
    return ThreadKey(PLATFORM, str(guild_id or ""), str(channel.id), "")


def place_kind(channel: Channel | None) -> str:
    """What to call the place in a sentence: "thread", "conversation" (a DM) or "channel"."""
    if isinstance(channel, discord.DMChannel | discord.GroupChannel):
        return "conversation"
    if isinstance(channel, discord.Thread):
        return "thread"
    return "channel"


def is_conversation_place(channel: Channel | None) -> bool:
    """Threads and DMs are one conversation each; other channels hold many."""
    return isinstance(channel, discord.Thread | discord.DMChannel | discord.GroupChannel)


def thread_key(guild_id: int, parent_id: int, thread_id: int) -> ThreadKey:
    return ThreadKey(PLATFORM, str(guild_id), str(parent_id), str(thread_id))


def dm_key(channel_id: int) -> ThreadKey:
    return ThreadKey(PLATFORM, "", str(channel_id), str(channel_id))


def started_here_key(place: ThreadKey, started_by: int) -> ThreadKey:
    """A conversation started in place in a channel by a message or interaction."""
    return ThreadKey(place.platform, place.workspace, place.channel, str(started_by))


def interaction_message_id(interaction_id: int) -> str:
    """``Incoming.message_id`` for a slash command: unique, and never a message snowflake."""
    return f"interaction:{interaction_id}"


# -- the prompt ------------------------------------------------------------------


def prompt_of(message: discord.Message, *, bot_id: int, bot_role_id: int | None) -> str:
    """The message's words for the model: the bot's mention removed, other mentions named.

    ``<@123>`` means nothing to a model; ``@alice`` does. Names come from the
    message's own mention lists, so nothing is fetched.
    """
    users = {user.id: user.display_name for user in message.mentions}
    roles = {role.id: role.name for role in message.role_mentions}
    channels = {channel.id: getattr(channel, "name", "") for channel in message.channel_mentions}
    return clean_text(
        message.content,
        bot_id=bot_id,
        bot_role_id=bot_role_id,
        users=users,
        roles=roles,
        channels=channels,
    )


def clean_text(
    content: str,
    *,
    bot_id: int,
    bot_role_id: int | None,
    users: dict[int, str],
    roles: dict[int, str],
    channels: dict[int, str],
) -> str:
    def user(match: re.Match[str]) -> str:
        found = int(match.group(1))
        if found == bot_id:
            return ""
        return f"@{users[found]}" if found in users else match.group()

    def role(match: re.Match[str]) -> str:
        found = int(match.group(1))
        if found == bot_role_id:
            return ""
        return f"@{roles[found]}" if found in roles else match.group()

    def channel(match: re.Match[str]) -> str:
        found = channels.get(int(match.group(1)))
        return f"#{found}" if found else match.group()

    text = _USER_MENTION.sub(user, content)
    text = _ROLE_MENTION.sub(role, text)
    text = _CHANNEL_MENTION.sub(channel, text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def thread_name(prompt: str, fallback: str) -> str:
    """A thread's name from its first question: one line, at most 100 characters.

    Cut at a word boundary with "…" when too long; ``fallback`` when there are no words.
    """
    words = " ".join(prompt.split())
    if not words:
        words = " ".join(fallback.split())
    if len(words) <= MAX_THREAD_NAME:
        return words
    cut = words[: MAX_THREAD_NAME - 1]
    space = cut.rfind(" ")
    if space >= MAX_THREAD_NAME // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"


def incoming(
    key: ThreadKey,
    *,
    message_id: str,
    author: discord.User | discord.Member,
    text: str,
    images: Iterable[Attachment] = (),
    model: str | None = None,
) -> Incoming:
    return Incoming(
        key=key,
        message_id=message_id,
        author_id=str(author.id),
        author_name=author.display_name,
        text=text,
        attachments=tuple(images),
        model=model,
    )


# -- access ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks, and where: what the allow- and block-lists are checked against.

    ``places`` holds the channel, a thread's parent and the category, so a list
    naming a channel or a category covers everything under it.
    """

    user_id: int
    role_ids: frozenset[int]
    guild_id: int | None
    places: frozenset[int]


def may_use(settings: DiscordSettings, who: Requester) -> bool:
    """True if the access lists let ``who`` use threadline here (``bot.access`` decides)."""
    return access.may_use(access.discord_lists(settings), asker(who))


def asker(who: Requester) -> access.Asker:
    """The platform-neutral facts ``bot.access`` decides on."""
    return access.Asker(
        user_id=str(who.user_id),
        workspace=str(who.guild_id or ""),
        places=frozenset(str(place) for place in who.places),
        roles=frozenset(str(role) for role in who.role_ids),
        direct=who.guild_id is None,
    )


def requester_of(author: discord.User | discord.Member, channel: Channel | None) -> Requester:
    """The ``Requester`` for a message's author or an interaction's user in ``channel``."""
    roles = frozenset(role.id for role in getattr(author, "roles", ()))
    places: set[int] = set()
    guild_id: int | None = None
    if channel is not None and not isinstance(channel, discord.DMChannel | discord.GroupChannel):
        places.add(channel.id)
        for attribute in ("parent_id", "category_id"):
            value = getattr(channel, attribute, None)
            if isinstance(value, int):
                places.add(value)
        parent = getattr(channel, "parent", None)
        if parent is not None and isinstance(parent.category_id, int):
            places.add(parent.category_id)
        guild = getattr(channel, "guild", None)
        guild_id = guild.id if guild is not None else getattr(channel, "guild_id", None)
    return Requester(author.id, roles, guild_id, frozenset(places))


# -- attachments -----------------------------------------------------------------


def changer_of(interaction: discord.Interaction[Any]) -> Changer:
    """Who gives a settings command; Manage Channels makes a member a channel admin."""
    manages = interaction.guild_id is not None and interaction.permissions.manage_channels

    async def platform_admin() -> bool:
        return manages

    return Changer(
        user_id=str(interaction.user.id),
        name=interaction.user.display_name,
        direct=interaction.guild_id is None,
        platform_admin=platform_admin,
    )
