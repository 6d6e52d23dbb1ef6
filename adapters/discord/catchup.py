"""At start: the messages that reached Discord while threadline was down.

A question sent while the process was stopped (or killed before it stored what
the gateway had just delivered) is never delivered again: the gateway replays
nothing after a fresh IDENTIFY. So, once connected, each conversation whose
newest question was stored within ``LIMITS__REASK_WITHIN_SECONDS`` is read
after that question, and each channel such conversations started in after the
newest start (a new mention there): channel history, GET
/channels/{id}/messages?after=, one page of ``PAGE`` messages, oldest first.
Every message from that window is handed to ``MessageEvents`` as if the gateway had delivered it now: the same
decision whether to answer, and the same "delivered again" check, so nothing is
answered twice. Conversations are read one after another, through discord.py's
rate limiting and the connection's budget (``count_every_request``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable

import discord

from bot.conversations import Conversations
from bot.domain import ThreadKey

log = logging.getLogger(__name__)

PAGE = 50  # messages read per conversation: a stop of minutes, not days
MAX_CONVERSATIONS = 200  # the most recently active ones, at most

Handle = Callable[[discord.Message], Awaitable[None]]


async def catch_up(
    client: discord.Client,
    conversations: Conversations,
    handle: Handle,
    *,
    within: float,
    live_since: float,
) -> int:
    """Hand each message sent since the newest stored question of a recent conversation
    (and within ``within`` seconds) to ``handle``; return how many were handed.

    A conversation whose newest question came after ``live_since`` (this process's
    connection) was stored live: the gateway delivers its messages, and reading it
    would only spend the bot's 50 requests/s while people wait (bench/e2e.py
    --burst: 49 history reads in the first second, the slowest first words 0.5 s
    later)."""
    if within <= 0 or client.user is None:
        return 0
    since = time.time() - within
    recent = await conversations.recent("discord", since=since)
    handed = 0
    for where, after in _reads(recent[-MAX_CONVERSATIONS:], live_since):
        try:
            channel = client.get_channel(where) or await client.fetch_channel(where)
            if not isinstance(channel, discord.abc.Messageable):
                continue
            history = channel.history(limit=PAGE, after=discord.Object(after), oldest_first=True)
            async for message in history:
                if message.author.id == client.user.id or _older(message, since):
                    continue
                await handle(message)
                handed += 1
        except discord.HTTPException as error:  # gone, or no access: nothing to catch up on
            log.info("could not read %s to catch up: %s", where, error.status)
    if handed:
        log.info("caught up on %d messages sent while threadline was down", handed)
    return handed


def _reads(recent: list[tuple[ThreadKey, str]], live_since: float) -> list[tuple[int, int]]:
    """The channels to read, each after a message id: every conversation (a thread or
    DM) after its newest stored question; and every channel conversations started in,
    after the newest start, so a new mention sent there while threadline was down (or
    killed before its storage) is found too. A channel or conversation whose newest
    message came after ``live_since`` was seen live and is not read."""
    reads: dict[int, int] = {}
    for key, last in recent:
        where = key.thread or key.channel
        if where.isdigit() and last.isdigit():
            reads[int(where)] = max(reads.get(int(where), 0), int(last))
        if key.thread != key.channel and key.thread.isdigit() and key.channel.isdigit():
            channel = int(key.channel)  # the thread was started from a message in it
            reads[channel] = max(reads.get(channel, 0), int(key.thread))
    return [
        (where, after)
        for where, after in reads.items()
        if discord.utils.snowflake_time(after).timestamp() <= live_since
    ]


def _older(message: discord.Message, since: float) -> bool:
    return message.created_at < dt.datetime.fromtimestamp(since, dt.UTC)
