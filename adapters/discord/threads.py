"""The thread a mention opens, opened alongside the answer rather than before it.

A thread started from a message takes the message's id
(https://discord.com/developers/docs/resources/channel#start-thread-from-message),
so the conversation's key is known before the thread exists. The answer
therefore begins at once: the question is stored and the model asked while the
thread is being opened, and a kill in between leaves the question stored. The
answer's first post and the typing indicator wait for the opening.

If Discord refuses the thread (no Create Public Threads permission, a channel
type without threads), the answer goes to the channel as a reply to the mention.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord

from adapters.discord.target import discord_errors
from bot.errors import ThreadlineError
from bot.streaming import EditScheduler

log = logging.getLogger(__name__)

Opened = discord.Thread | discord.TextChannel


class ThreadToOpen:
    """Stands in for the thread (``ChannelTarget``'s channel) until it exists."""

    def __init__(self, message: discord.Message, name: str, scheduler: EditScheduler) -> None:
        self.id = message.id  # the thread's id, once opened
        self.guild = message.guild
        self._message = message
        self._name = name
        self._scheduler = scheduler
        self._in_place = False  # the thread was refused: reply to the mention instead
        # Opened now, in the shared budget, so it goes before this answer's
        # placeholder and first words (and is counted before they are weighed).
        self._opening = asyncio.create_task(self._open(), name=f"discord-thread-{self.id}")

    async def send(self, *args: Any, **kwargs: Any) -> discord.Message:
        channel = await self._opened()
        if self._in_place:
            kwargs.setdefault("reference", self._message.to_reference(fail_if_not_exists=False))
        return await channel.send(*args, **kwargs)

    async def typing(self) -> None:
        await (await self._opened()).typing()

    def get_partial_message(self, message_id: int) -> discord.PartialMessage:
        """A message of the answer: one exists only after a ``send``, so the thread does."""
        return self._opening.result().get_partial_message(message_id)

    async def _opened(self) -> Opened:
        # Shielded: a cancelled first post (Stop) leaves the opening to the next request.
        return await asyncio.shield(self._opening)

    async def _open(self) -> Opened:
        parent = self._message.channel
        assert isinstance(parent, discord.TextChannel)
        try:
            with discord_errors(str(parent.id)):
                return await self._scheduler.spend(
                    None, lambda: self._message.create_thread(name=self._name)
                )
        except ThreadlineError as error:
            log.warning("could not open a thread, answering in place: %s", error)
            self._in_place = True
            return parent
