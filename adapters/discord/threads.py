"""A new mention's thread, opened once its question is stored.

The core stores a question before anything is shown for it, so a crash between
Discord's event and the store leaves neither a thread with no question behind
it nor a stored question in a thread nobody opened. A thread started from a
message has the message's id ("the thread ID will be the same as the ID of the
message", https://discord.com/developers/docs/resources/channel#start-thread-from-message),
so the conversation's key is known before the thread exists. The thread opens
as soon as the question is stored (``AcceptingSink``), before the answer waits
its turn: a burst's threads all go first, ahead of its answers' posts (bench/e2e.py
--burst: 50 mentions visible in one second, not two); or when a refusal is shown.
"""

from __future__ import annotations

import asyncio
import logging

import discord

from adapters.discord.target import ChannelTarget, discord_errors
from bot.errors import ThreadlineError
from bot.ports import ReplySink
from bot.sinks import PassingSink
from bot.streaming import EditScheduler

__all__ = ["ThreadFirst"]

log = logging.getLogger(__name__)


class ThreadFirst(PassingSink):
    """The answer's sink, opening the thread for ``message`` before the first thing it
    shows; if Discord refuses (no Create Public Threads permission, …) the answer
    stays in place, replying to the message."""

    def __init__(
        self,
        inner: ReplySink,
        *,
        message: discord.Message,
        name: str,
        target: ChannelTarget,
        scheduler: EditScheduler,
    ) -> None:
        super().__init__(inner)
        self._message = message
        self._name = name
        self._target = target
        self._scheduler = scheduler
        self._opening = asyncio.Lock()
        self._opened = False

    async def question_stored(self) -> None:
        await self._open()

    async def queued(self, sentence: str) -> None:
        await self._open()
        await super().queued(sentence)

    async def start(self) -> None:
        await self._open()
        await super().start()

    async def finish(self, footer: str = "") -> tuple[str, ...]:
        await self._open()
        return await super().finish(footer)

    async def _open(self) -> None:
        async with self._opening:
            if self._opened:
                return
            self._opened = True
            message, name = self._message, self._name
            try:
                with discord_errors(str(message.channel.id)):
                    thread = await self._scheduler.spend(
                        None, lambda: message.create_thread(name=name)
                    )
            except ThreadlineError as error:
                log.warning("could not open a thread, answering in place: %s", error)
                return
            self._target.move_to(thread)
