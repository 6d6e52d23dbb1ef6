"""Answers as tasks that Stop can cancel, with their buttons beside them (buttons.py).

Each answer runs in a task of its own, remembered by its request (question) id
while it runs, so a Stop click can cancel it: the service then finishes it with
the stopped notice and stores it as interrupted, as on Discord. The Stop
message is posted once the answer starts (not for a duplicate delivery, which
never starts); when the answer ends it is deleted and Regenerate is posted
under the answer (also when the process stops while it is written). The buttons
are best effort: a failure to show them is logged and the answer stands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.buttons import regenerate_blocks, stop_blocks
from adapters.slack.failures import translated
from adapters.slack.translate import PLATFORM, ReplyPlace
from bot import wording
from bot.conversations import Conversations
from bot.domain import Role, ThreadKey
from bot.errors import PlatformRateLimited, ThreadlineError
from bot.ports import ReplySink
from bot.service import Outcome, ReplyResult
from bot.sinks import PassingSink
from bot.stops import StopSignals
from bot.streaming import EditScheduler

__all__ = ["Answers", "ControlledSink", "Running"]

log = logging.getLogger(__name__)

# Seconds a shutdown waits for an answer's buttons to be swapped (as on Discord).
SHUTDOWN_GRACE = 5.0
# Tries of a button's post that Slack rate limits (chat.postMessage: about one a
# second per channel, so a busy channel's sixth post in a second meets a 429).
BUTTON_TRIES = 3

Work = Callable[[ReplySink], Coroutine[Any, Any, ReplyResult]]


class PostingSink(ReplySink, Protocol):
    """A reply that knows the messages it has posted (``channel:ts``): the buttons
    go under the last of them."""

    @property
    def posted_ids(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class Running:
    """An answer being written: its task, and who asked (who may stop it)."""

    requester_id: str
    task: asyncio.Task[ReplyResult]


class Controls:
    """The small message holding an answer's button, in the answer's thread.

    Its requests go through the connection's edit scheduler like the answer's own,
    so they count against the same budget (``EditScheduler.spend``). Stop is posted
    in the background (``show_soon``): the answer's first words never wait for it.
    """

    def __init__(self, client: AsyncWebClient, scheduler: EditScheduler, place: ReplyPlace) -> None:
        self._client = client
        self._scheduler = scheduler
        self._place = place
        self._showing: asyncio.Task[None] | None = None
        self.ts: str | None = None

    def show_soon(self, text: str, blocks: list[dict[str, Any]]) -> None:
        self._showing = asyncio.create_task(self.show(text, blocks), name="slack-stop-button")

    async def show(self, text: str, blocks: list[dict[str, Any]]) -> None:
        place = self._place

        async def post() -> Any:
            with translated(place.channel):
                return await self._client.chat_postMessage(
                    channel=place.channel, thread_ts=place.thread_ts, text=text, blocks=blocks
                )

        for tries_left in reversed(range(BUTTON_TRIES)):
            try:
                response = await self._scheduler.spend(place.channel, post)
            except PlatformRateLimited as limited:  # the channel's posts, 1 a second
                if tries_left:
                    await asyncio.sleep(limited.retry_after)
                    continue
                log.warning("could not show an answer's button: %s", limited.user_message)
            except ThreadlineError as error:
                log.warning("could not show an answer's button: %s", error.user_message)
            else:
                self.ts = str(response["ts"])
            return

    async def remove(self) -> None:
        showing, self._showing = self._showing, None
        if showing is not None:
            await asyncio.gather(showing, return_exceptions=True)
        ts, self.ts = self.ts, None
        if ts is None:
            return
        channel = self._place.channel

        async def delete() -> Any:
            with translated(channel, workspace_wide=True):
                return await self._client.chat_delete(channel=channel, ts=ts)

        try:
            await self._scheduler.spend(channel, delete)
        except ThreadlineError as error:
            log.warning("could not remove an answer's button: %s", error.user_message)


class ControlledSink(PassingSink):
    """A ``ReplySink`` that shows Stop once the answer starts."""

    def __init__(self, inner: ReplySink, controls: Controls, request_id: str) -> None:
        super().__init__(inner)
        self._controls = controls
        self._request_id = request_id

    async def start(self) -> None:
        await self._inner.start()
        self._controls.show_soon(wording.slack_stop_fallback(), stop_blocks(self._request_id))


class Answers:
    def __init__(
        self,
        client: AsyncWebClient,
        scheduler: EditScheduler,
        conversations: Conversations,
        stops: StopSignals | None = None,
    ) -> None:
        self._client = client
        self._scheduler = scheduler
        self._conversations = conversations
        self._stops = stops  # a Stop clicked on another worker (behind a load balancer)
        self._running: dict[str, Running] = {}

    def running(self, request_id: str) -> Running | None:
        return self._running.get(request_id)

    def stop(self, request_id: str) -> bool:
        running = self._running.get(request_id)
        if running is None:
            return False
        running.task.cancel()
        return True

    async def stop_elsewhere(self, request_id: str) -> None:
        """Stop the answer to ``request_id`` on whichever worker streams it."""
        if self._stops is not None:
            await self._stops.request(PLATFORM, request_id)

    async def run(
        self,
        *,
        key: ThreadKey,
        place: ReplyPlace,
        request_id: str,
        requester_id: str,
        reply: PostingSink,
        sink: ReplySink,
        work: Work,
    ) -> ReplyResult:
        """Run ``work`` into ``sink`` (which records into ``reply``) with Stop, then
        Regenerate, beside it. A Stop click makes the result ``INTERRUPTED``."""
        controls = Controls(self._client, self._scheduler, place)
        task = asyncio.create_task(
            work(ControlledSink(sink, controls, request_id)), name=f"slack-answer-{request_id}"
        )
        self._running[request_id] = Running(requester_id, task)
        if self._stops is not None:
            self._stops.watch(PLATFORM, request_id, task)
        try:
            result = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # Shutting down: the service has ended and stored the answer; swap its
                # buttons while the connection is still open, then go on stopping.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(SHUTDOWN_GRACE):
                        await self._swap(controls, key, None, reply.posted_ids)
                raise
            result = ReplyResult(Outcome.INTERRUPTED)
        finally:
            self._running.pop(request_id, None)
        await self._swap(controls, key, result, reply.posted_ids)
        return result

    async def _swap(
        self,
        controls: Controls,
        key: ThreadKey,
        result: ReplyResult | None,
        posted: tuple[str, ...],
    ) -> None:
        """Stop goes; Regenerate comes under the answer, if there is one to regenerate."""
        await controls.remove()
        turn_id = await self._answer_turn(result or ReplyResult(Outcome.INTERRUPTED), posted)
        if turn_id is not None:
            blocks = regenerate_blocks(key, turn_id)
            await controls.show(wording.slack_regenerate_fallback(), blocks)

    async def _answer_turn(self, result: ReplyResult, posted: tuple[str, ...]) -> int | None:
        if result.outcome in (Outcome.DUPLICATE, Outcome.REFUSED):
            return None
        if result.turn_id is not None:
            return result.turn_id
        if not posted:
            return None
        # Stopped: the service stored the interrupted answer with its message ids.
        stored = await self._conversations.find(PLATFORM, posted[0])
        if stored is None or stored.turn.role is not Role.ASSISTANT:
            return None
        return stored.turn.id
