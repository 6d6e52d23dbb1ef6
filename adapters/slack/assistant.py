"""Slack's AI-app assistant threads: status, title, suggested prompts.

In a workspace where the app has the "Agents & AI Apps" feature, a DM with the
bot is a list of threads; ``assistant.threads.setStatus`` shows "is thinking…"
until the app replies, ``setTitle`` names the thread in its history and
``setSuggestedPrompts`` offers starters
(https://docs.slack.dev/reference/methods/assistant.threads.setStatus, …setTitle,
…setSuggestedPrompts). All three are cosmetic: a failure is logged, never raised,
and a refusal (the feature is off, a scope is missing) turns them off for good.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.failures import REFUSED_CODES, translated
from adapters.slack.translate import AssistantThreadStarted
from bot import wording
from bot.errors import PlatformError, ThreadlineError

__all__ = ["AssistantThreads"]

log = logging.getLogger(__name__)


class AssistantThreads:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self.available = True

    async def thinking(self, channel: str, thread_ts: str) -> None:
        await self._call(
            channel,
            lambda: self._client.assistant_threads_setStatus(
                channel_id=channel, thread_ts=thread_ts, status=wording.SLACK_THINKING_STATUS
            ),
        )

    async def title(self, channel: str, thread_ts: str, question: str) -> None:
        await self._call(
            channel,
            lambda: self._client.assistant_threads_setTitle(
                channel_id=channel, thread_ts=thread_ts, title=wording.slack_thread_title(question)
            ),
        )

    async def welcome(self, thread: AssistantThreadStarted) -> None:
        prompts = [
            {"title": title, "message": message}
            for title, message in wording.slack_suggested_prompts()
        ]
        await self._call(
            thread.channel,
            lambda: self._client.assistant_threads_setSuggestedPrompts(
                channel_id=thread.channel,
                thread_ts=thread.thread_ts,
                title=wording.slack_prompts_title(),
                prompts=prompts,
            ),
        )

    async def _call(self, channel: str, call: Callable[[], Awaitable[object]]) -> None:
        if not self.available:
            return
        try:
            with translated(channel):
                await call()
        except PlatformError as error:
            if error.code in REFUSED_CODES:
                self.available = False
                log.info("assistant threads are not available to this app (%s)", error.code)
            else:
                log.warning("an assistant thread call failed (%s)", error.code)
        except ThreadlineError as error:  # rate limited: a status is not worth a retry
            log.info("an assistant thread call was skipped: %s", error.user_message)
