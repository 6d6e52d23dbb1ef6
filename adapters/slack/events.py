"""What the bot does with each translated Slack event.

- A person's message: answered if it is a DM, a mention, or a reply in a thread
  where the bot already talks (the store knows the thread). Its files are read
  at once (images attached, text files inlined) or refused with one sentence. A
  first mention inside an existing thread brings the thread's earlier messages in.
- An edit or a deletion updates the stored turn; neither is ever answered.
- An assistant thread that opens gets suggested prompts.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from adapters.slack.files import FileReader
from adapters.slack.history import ThreadHistory
from adapters.slack.names import UserNames
from adapters.slack.replies import Replies
from adapters.slack.translate import (
    PLATFORM,
    AssistantThreadStarted,
    MessageDeletion,
    MessageEdit,
    PersonMessage,
    SlackEvent,
    asker,
    should_answer,
)
from bot import wording
from bot.access import AccessLists, may_use
from bot.conversations import Conversations
from bot.domain import Incoming
from bot.files import with_files

__all__ = ["EventHandler"]

log = logging.getLogger(__name__)


class EventHandler:
    def __init__(
        self,
        *,
        conversations: Conversations,
        replies: Replies,
        history: ThreadHistory,
        names: UserNames,
        files: FileReader,
        lists: AccessLists,
    ) -> None:
        self._lists = lists
        self._conversations = conversations
        self._replies = replies
        self._history = history
        self._names = names
        self._files = files

    async def handle(self, event: SlackEvent) -> None:
        if isinstance(event, PersonMessage):
            await self._message(event)
        elif isinstance(event, MessageEdit):
            if await self._conversations.edited(PLATFORM, event.message_id, event.text):
                log.info("updated the stored turn of %s after an edit", event.message_id)
        elif isinstance(event, MessageDeletion):
            if await self._conversations.deleted(PLATFORM, event.message_id):
                log.info("removed the stored turn of %s after a deletion", event.message_id)
        elif isinstance(event, AssistantThreadStarted):
            await self._replies.assistant.welcome(event)

    async def _message(self, message: PersonMessage) -> None:
        key = message.incoming.key
        known = await self._conversations.knows(key)
        if not should_answer(message, known_thread=known):
            return
        if not may_use(self._lists, asker(key.workspace, key.channel, message.incoming.author_id)):
            log.info("ignoring a message: the access lists do not allow its author here")
            return
        incoming = await self._with_files(message)
        if incoming is None:
            return
        if not incoming.text and not incoming.attachments:
            await self._replies.notice(message.place, wording.empty_prompt())
            return
        if message.mentioned and message.in_thread and not known:
            await self._history.bring_in(message)
        place = message.place
        if place.assistant and place.thread_ts is not None and not known:
            title = message.incoming.text or (message.files[0].name if message.files else "")
            await self._replies.assistant.title(place.channel, place.thread_ts, title)
        name = await self._names.name(incoming.author_id)
        result = await self._replies.answer(replace(incoming, author_name=name), place)
        log.info("%s in %s: %s", incoming.message_id, key, result.outcome.value)

    async def _with_files(self, message: PersonMessage) -> Incoming | None:
        """The message with its files brought in; None once a refusal has been told."""
        if not message.files:
            return message.incoming
        files = await self._files.read(message.files)
        if files.refusal is not None:
            await self._replies.notice(message.place, files.refusal)
            return None
        incoming = message.incoming
        return replace(
            incoming, text=with_files(incoming.text, files.texts), attachments=files.images
        )
