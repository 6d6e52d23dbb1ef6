"""Gateway message events: answer what should be answered; keep history in step.

- MESSAGE_CREATE: a mention, a message in a thread the bot started, a DM, or a
  reply to the bot's message is answered (``translate.trigger_of``).
- MESSAGE_UPDATE / MESSAGE_DELETE: a user who edits or deletes a message they
  asked with changes the stored history to match.

Each message is handled in a task the ``AnswerRunner`` tracks. Messages of one
channel pass a FIFO "intake" one at a time — attachments are downloaded and a
thread created there — and the answer is begun before the next message enters,
so the service sees a channel's messages in the order Discord delivered them.
A message delivered twice (a RESUME may replay dispatches) is answered once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

import discord
from discord.ext import commands

from adapters.discord.answers import AnswerRunner
from adapters.discord.files import read_files
from adapters.discord.target import ChannelTarget, Postable
from adapters.discord.threads import ThreadFirst
from adapters.discord.translate import (
    PLATFORM,
    Trigger,
    incoming,
    is_conversation_place,
    may_use,
    place_key,
    prompt_of,
    replied_to_bot,
    requester_of,
    started_here_key,
    thread_key,
    thread_name,
    trigger_of,
)
from adapters.discord.views import stop_controls
from bot import wording
from bot.conversations import Conversations
from bot.domain import Role, ThreadKey
from bot.errors import ThreadlineError
from bot.fetch import Downloader
from bot.files import FileKind, FileLimits, file_kind, with_files
from bot.ports import ReplySink
from bot.service import ReplyResult, ReplyService
from bot.settings import DiscordSettings

log = logging.getLogger(__name__)

POSTABLE = (
    discord.TextChannel,
    discord.Thread,
    discord.DMChannel,
    discord.VoiceChannel,
    discord.StageChannel,
)


@dataclass(frozen=True, slots=True)
class Destination:
    """Where an answer goes: the channel, the conversation, and what it replies to."""

    channel: Postable
    key: ThreadKey
    reply_to: discord.MessageReference | None = None
    thread_name: str | None = None  # a thread to open, once the question is stored


class Intake:
    """One FIFO lock per channel, dropped when nobody waits on it."""

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, list[None]]] = {}

    @contextlib.asynccontextmanager
    async def turn(self, channel_id: int) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(channel_id, (asyncio.Lock(), []))
        users.append(None)
        try:
            async with lock:
                yield
        finally:
            users.pop()
            if not users:
                del self._locks[channel_id]


class MessageEvents(commands.Cog):
    def __init__(
        self,
        client: discord.Client,
        *,
        settings: DiscordSettings,
        service: ReplyService,
        conversations: Conversations,
        runner: AnswerRunner,
        downloader: Downloader,
    ) -> None:
        self._client = client
        self._settings = settings
        self._service = service
        self._conversations = conversations
        self._runner = runner
        self._limits = FileLimits(settings.max_image_bytes, settings.max_text_file_bytes)
        self._downloader = downloader
        self._intake = Intake()

    # -- new messages ----------------------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self._client.user
        if me is None or not isinstance(message.channel, POSTABLE):
            return
        trigger = trigger_of(message, bot_id=me.id, bot_role_id=_bot_role(message))
        if trigger is None:
            return
        if not may_use(self._settings, requester_of(message.author, message.channel)):
            log.info("ignoring a message: the access lists do not allow its author here")
            return
        self._runner.spawn(self._answer(message, trigger, me.id), f"discord-message-{message.id}")

    async def _answer(self, message: discord.Message, trigger: Trigger, bot_id: int) -> None:
        async with self._intake.turn(message.channel.id):
            if await self._taken_before(message):
                return
            files = await read_files(message.attachments, self._limits, self._downloader)
            if files.refusal is not None:
                await self._say(message, files.refusal)
                return
            prompt = prompt_of(message, bot_id=bot_id, bot_role_id=_bot_role(message))
            text = with_files(prompt, files.texts)
            if not text and not files.images:
                await self._say(message, wording.empty_prompt())
                return
            fallback = (
                message.attachments[0].filename
                if message.attachments
                else wording.discord_thread_name(message.author.display_name)
            )
            name = thread_name(prompt, fallback)
            where = await self._destination(message, trigger, name, bot_id)
            request_id = str(message.id)
            target = ChannelTarget(
                where.channel, controls=stop_controls(request_id), reply_to=where.reply_to
            )
            asked = incoming(
                where.key,
                message_id=request_id,
                author=message.author,
                text=text,
                images=files.images,
            )

            def work(sink: ReplySink) -> Coroutine[Any, Any, ReplyResult]:
                if where.thread_name is not None:  # opened once the question is stored
                    sink = ThreadFirst(
                        sink,
                        message=message,
                        name=where.thread_name,
                        target=target,
                        scheduler=self._runner.scheduler,
                    )
                return self._service.handle(asked, sink)

            running = self._runner.begin(request_id, message.author.id, target, work, key=where.key)
        await self._runner.complete(running)

    async def _taken_before(self, message: discord.Message) -> bool:
        """Is this a message delivered again? Discord delivers at least once: a RESUME
        may replay dispatches the bot already had. Taking it again would try to open
        its thread a second time and, while its answer streams, take the Stop button
        from that answer (the runner knows answers by message id). The intake runs a
        channel's messages in order, so the first delivery has begun by now."""
        request_id = str(message.id)
        again = self._runner.answering(request_id)
        again = again or await self._conversations.find(PLATFORM, request_id) is not None
        if again:
            log.info("ignoring message %s: delivered again", request_id)
        return again

    async def _destination(
        self, message: discord.Message, trigger: Trigger, name: str, bot_id: int
    ) -> Destination:
        """The channel and conversation of the answer. A new mention's thread is named
        here and opened once its question is stored (``ThreadFirst``): its key is
        known before, a thread started from a message has the message's id."""
        channel = message.channel
        assert isinstance(channel, POSTABLE)
        in_place = Destination(
            channel,
            started_here_key(place_key(channel), message.id),
            message.to_reference(fail_if_not_exists=False),
        )
        if trigger in (Trigger.DIRECT, Trigger.BOT_THREAD):
            return Destination(channel, place_key(channel))
        if is_conversation_place(channel):  # someone else's thread: it is the conversation
            return Destination(channel, place_key(channel), in_place.reply_to)
        if trigger is Trigger.REPLY:
            replied = replied_to_bot(message, bot_id)
            stored = await self._conversations.find(PLATFORM, str(replied))
            if stored is not None:
                return Destination(channel, stored.key, in_place.reply_to)
            return in_place
        if not self._settings.answer_in_thread or not isinstance(channel, discord.TextChannel):
            return in_place
        # The key is the thread's: started from the message, it has the message's id.
        key = thread_key(channel.guild.id, channel.id, message.id)
        return Destination(channel, key, in_place.reply_to, thread_name=name)

    async def _say(self, message: discord.Message, sentence: str) -> None:
        """One sentence in reply to ``message`` (a refusal); failures are only logged."""
        channel = message.channel
        assert isinstance(channel, POSTABLE)
        target = ChannelTarget(channel, reply_to=message.to_reference(fail_if_not_exists=False))
        try:
            await target.post(sentence)
        except ThreadlineError as error:
            log.warning("could not reply: %s", error)

    # -- edits and deletions ---------------------------------------------------------

    @commands.Cog.listener()
    async def on_raw_message_edit(self, event: discord.RawMessageUpdateEvent) -> None:
        message = event.message
        if message.author.bot or "content" not in event.data:
            return  # the bot's own streaming edits, and embed-only updates (link previews)
        self._runner.spawn(self._edited(message), f"discord-edit-{message.id}")

    async def _edited(self, message: discord.Message) -> None:
        stored = await self._conversations.find(PLATFORM, str(message.id))
        if stored is None or stored.turn.role is not Role.USER:
            return
        me = self._client.user
        texts = [
            a for a in message.attachments if file_kind(a.filename, a.content_type) is FileKind.TEXT
        ]
        files = await read_files(texts, self._limits, self._downloader)
        if files.refusal is not None:
            return  # a text file could not be read again: keep the history as it was
        prompt = prompt_of(message, bot_id=me.id if me else 0, bot_role_id=_bot_role(message))
        text = with_files(prompt, files.texts)
        await self._conversations.edited(PLATFORM, str(message.id), text)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, event: discord.RawMessageDeleteEvent) -> None:
        self._runner.spawn(self._deleted([event.message_id]), f"discord-delete-{event.message_id}")

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, event: discord.RawBulkMessageDeleteEvent) -> None:
        self._runner.spawn(self._deleted(sorted(event.message_ids)), "discord-bulk-delete")

    async def _deleted(self, message_ids: list[int]) -> None:
        """Forget the user turns these messages stored (others are not in the store)."""
        for message_id in message_ids:
            await self._conversations.deleted(PLATFORM, str(message_id))


def _bot_role(message: discord.Message) -> int | None:
    role = message.guild.self_role if message.guild is not None else None
    return role.id if role is not None else None
