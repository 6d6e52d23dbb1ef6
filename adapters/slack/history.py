"""Bring a thread's earlier messages in when the bot is first mentioned inside it.

threadline's database is the history; Slack is not re-read per turn. Slack now
limits ``conversations.replies`` for apps outside its Marketplace to about one
call a minute and 15 messages per call (changelog 2025-05-29,
https://docs.slack.dev/changelog/2025/05/29/rate-limit-changes-for-non-marketplace-apps),
so this reads one page (the parent and the oldest replies) when the method's
shared pacer (pacer.py, which the catch-up at start also takes its turns from)
has a turn free now, and skips the import rather than wait.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.failures import translated
from adapters.slack.names import UserNames
from adapters.slack.pacer import MethodPacer
from adapters.slack.translate import BotIdentity, PersonMessage, earlier_messages
from bot.conversations import Conversations
from bot.errors import ThreadlineError

__all__ = ["ThreadHistory"]

log = logging.getLogger(__name__)


class ThreadHistory:
    def __init__(
        self,
        client: AsyncWebClient,
        conversations: Conversations,
        names: UserNames,
        *,
        me: BotIdentity,
        limit: int,
        pacer: MethodPacer,
    ) -> None:
        self._client = client
        self._conversations = conversations
        self._names = names
        self._me = me
        self._limit = limit
        self._pacer = pacer

    async def bring_in(self, mention: PersonMessage) -> int:
        """Store the people's messages before ``mention`` in its thread; how many were stored."""
        key = mention.incoming.key
        try:
            if not await self._pacer.take_now():
                log.info("skipped reading %s: conversations.replies was used recently", key)
                return 0
            with translated(key.channel):
                page = await self._client.conversations_replies(
                    channel=key.channel, ts=key.thread, limit=self._limit
                )
        except ThreadlineError as error:
            log.warning("could not read the thread %s: %s", key, error.user_message)
            return 0
        messages = page.get("messages") or []
        named = [
            replace(earlier, author_name=await self._names.name(earlier.author_id))
            for earlier in earlier_messages(messages, self._me, key=key, before_ts=mention.ts)
        ]
        return await self._conversations.import_history(key, named)
