"""At start: the messages that reached Slack's threads while threadline was down.

A question sent while the process was stopped (or killed before it stored what
Slack had just delivered) is not delivered again once Slack's retries are spent
(https://docs.slack.dev/apis/events-api/#retries). So, once connected and after
the answers still owed are shown, each thread whose newest stored question is
within ``LIMITS__REASK_WITHIN_SECONDS`` is read after that question
(``conversations.replies`` with ``oldest``: one page, the newest threads first)
and every person's message found there is handed to the normal event path as if
Slack had delivered it now: the same decision whether to answer (a follow-up in
a thread the bot talks in, a mention), and the store's idempotency on message
ids, so nothing is answered twice.

Every thread read takes its turn from the pacer the thread import shares, and
every channel read from one of its own (pacer.py; Slack limits each method on its
own): outside the Marketplace that is one read a minute each, so this runs in the
background, never delaying readiness. A 429 (another process used the method)
is waited out once. The top level of a DM has no thread to read
(``conversations.history``, not done here).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.failures import translated
from adapters.slack.pacer import MethodPacer
from adapters.slack.translate import PLATFORM, BotIdentity, SlackEvent, event_from_body, ts_order
from bot.conversations import Conversations
from bot.domain import ThreadKey
from bot.errors import PlatformRateLimited, ThreadlineError
from bot.ports import Clock

__all__ = ["CatchUp"]

log = logging.getLogger(__name__)

PAGE = 15  # messages per call, the non-Marketplace cap (changelog 2025-05-29)
MAX_THREADS = 60  # the most recently active ones: an hour of reads at one a minute
ATTEMPTS = 2  # a read that met a 429 is tried once more, after Retry-After

Handle = Callable[[SlackEvent], None]


class CatchUp:
    """Runs the catch-up in a background task of its own; ``aclose`` ends it."""

    def __init__(
        self,
        client: AsyncWebClient,
        conversations: Conversations,
        pacer: MethodPacer,
        me: BotIdentity,
        clock: Clock,
        *,
        within: float,
        channels: MethodPacer | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._conversations = conversations
        self._pacer = pacer
        # conversations.history is limited on its own, like every method (one a minute
        # outside the Marketplace too): a channel's read does not wait for a thread's.
        self._channel_pacer = channels or pacer
        self._me = me
        self._clock = clock
        self._within = within
        self._now = now
        # Made before the connection opens: a thread whose newest question came later
        # was stored live (its messages are delivered), so it is not read again.
        self._live_since = now()
        self._task: asyncio.Task[None] | None = None

    def start(self, handle: Handle) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._logged(handle), name="slack-catch-up")

    async def wait(self) -> None:
        """Until the catch-up has read every thread (at once if it never started)."""
        if self._task is not None:
            await asyncio.wait([self._task])

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])

    async def _logged(self, handle: Handle) -> None:
        try:
            await self.run(handle)
        except Exception:  # a background task's failure is logged, never lost
            log.exception("the Slack catch-up failed")

    async def run(self, handle: Handle) -> int:
        """Hand each person's message sent since the newest stored question of a recent
        thread (and within ``within`` seconds) to ``handle``; return how many were handed."""
        if self._within <= 0:
            return 0
        since = self._now() - self._within
        try:
            recent = await self._conversations.recent(PLATFORM, since=since)
        except ThreadlineError as error:
            log.warning("could not catch up: %s", error.user_message)
            return 0
        handed = 0
        recent = [
            (key, last)
            for key, last in recent[-MAX_THREADS:]
            if key.workspace == self._me.team_id and key.thread != key.channel
        ]  # this workspace's threads (a DM's top level has no thread to read)
        for key, last in reversed(recent):  # the newest threads first
            if self._seen_live(last.rpartition(":")[2]):
                continue  # stored live, since this process connected
            oldest = _oldest(key, last, since)
            handed += self._hand(await self._read(key, oldest), key, oldest, handle)
        for key, root in _channels(recent):  # then new mentions at their top level
            if not self._seen_live(root):
                oldest = max(root, f"{since:.6f}", key=ts_order)
                handed += self._hand(await self._read(key, oldest), key, oldest, handle)
        if handed:
            log.info("caught up on %d Slack messages sent while threadline was down", handed)
        return handed

    def _seen_live(self, ts: str) -> bool:
        return ts_order(ts) > ts_order(f"{self._live_since:.6f}")

    def _hand(
        self, messages: list[Mapping[str, Any]], key: ThreadKey, oldest: str, handle: Handle
    ) -> int:
        handed = 0
        for message in messages:
            event = _as_event(message, key, self._me, oldest)
            if event is not None:
                handle(event)
                handed += 1
        return handed

    async def _read(self, key: ThreadKey, oldest: str) -> list[Mapping[str, Any]]:
        """One page of the thread (``key.thread``; a channel's top level when empty)
        after ``oldest``, oldest first; none if Slack refuses."""
        for _ in range(ATTEMPTS):
            await (self._pacer if key.thread else self._channel_pacer).take()
            try:
                with translated(key.channel, workspace_wide=True):
                    if key.thread:
                        page = await self._client.conversations_replies(
                            channel=key.channel, ts=key.thread, oldest=oldest, limit=PAGE
                        )
                    else:  # conversations.history: newest first
                        page = await self._client.conversations_history(
                            channel=key.channel, oldest=oldest, limit=PAGE
                        )
            except PlatformRateLimited as error:
                log.info("Slack's history reads are busy: reading %s again", key)
                await self._clock.sleep(error.retry_after)
                continue
            except ThreadlineError as error:  # gone, or no access: nothing to catch up on
                log.info("could not read %s to catch up: %s", key, error.user_message)
                return []
            messages = [m for m in page.get("messages") or [] if isinstance(m, Mapping)]
            return sorted(messages, key=lambda m: ts_order(str(m.get("ts", ""))))
        return []


def _channels(recent: list[tuple[ThreadKey, str]]) -> list[tuple[ThreadKey, str]]:
    """Each channel the threads were started in (its top level: ``thread`` empty), with
    the newest thread's root: a mention after it may have started a thread of its own
    that nothing stored."""
    roots: dict[str, ThreadKey] = {}
    for key, _ in recent:
        known = roots.get(key.channel)
        if known is None or ts_order(key.thread) > ts_order(known.thread):
            roots[key.channel] = key
    return [(replace(key, thread=""), key.thread) for key in roots.values()]


def _oldest(key: ThreadKey, last: str, since: float) -> str:
    """The ``ts`` to read after: the newest stored question's, or the window's start
    when that is later (or when the question has no ``ts``: a slash command's)."""
    channel, _, ts = last.rpartition(":")
    start = f"{since:.6f}"
    if channel != key.channel or ts_order(ts) < ts_order(start):
        return start
    return ts


def _as_event(
    message: Mapping[str, Any], key: ThreadKey, me: BotIdentity, oldest: str
) -> SlackEvent | None:
    """A ``conversations.replies`` message as the event Slack would have delivered: a
    mention as ``app_mention`` (its ``message`` copy is left to that one), else
    ``message``. Slack returns the thread's parent too: it and anything not after
    ``oldest`` are left out."""
    ts = str(message.get("ts", ""))
    if not ts or ts_order(ts) <= ts_order(oldest):
        return None
    mention = f"<@{me.user_id}>" in str(message.get("text", ""))
    kind = "app_mention" if mention and not key.channel.startswith("D") else "message"
    event = {**message, "type": kind, "channel": key.channel}
    return event_from_body({"team_id": key.workspace, "event": event}, me)
