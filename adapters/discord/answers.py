"""Answers as tracked tasks: start, stop (the Stop button), finish with Regenerate.

Every piece of long work the adapter starts runs in a task this runner tracks,
so ``close`` can cancel and await all of it before the connection closes (a
cancelled answer still gets its final edit: the service finishes it with the
stopped notice, through the edit scheduler, while discord.py's HTTP session is
still open).

An answer's buttons cost at most two requests outside the edit scheduler: the
Stop button rides on the first post, and when the answer is done one edit puts
Regenerate under its last message (plus one removing Stop from the first, if
the answer ran to several messages). The scheduler's final edit cannot carry
Regenerate: the button names the stored answer turn, and the service reports
that id only when ``handle`` returns, after the final edit. These edits go
through discord.py, which tracks the channel bucket from the response headers
and waits rather than sending into a 429 (discord/http.py ``Ratelimit``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import discord

from adapters.discord.keep import candidate_controls
from adapters.discord.target import NO_PINGS, InteractionTarget
from adapters.discord.translate import (
    PLATFORM,
    interaction_message_id,
    may_use,
    requester_of,
)
from adapters.discord.views import regenerate_controls, stop_controls
from bot import wording
from bot.access import may_stop
from bot.conversations import Conversations
from bot.domain import Incoming, Role, ThreadKey
from bot.errors import ThreadlineError
from bot.ports import MessageRef, ReplySink, ReplyTarget
from bot.render import render_discord
from bot.service import Outcome, ReplyResult, ReplyService
from bot.settings import DiscordSettings
from bot.streaming import EditScheduler, StreamedReply

log = logging.getLogger(__name__)


class AnswerTarget(ReplyTarget, Protocol):
    """A ``ReplyTarget`` that also remembers its messages and can swap their buttons."""

    posted: list[MessageRef]

    async def show_view(self, ref: MessageRef, view: discord.ui.View | None) -> None: ...

    async def close(self) -> None: ...


Work = Callable[[ReplySink], Coroutine[Any, Any, ReplyResult]]


@dataclass(frozen=True, slots=True)
class Running:
    """An answer being written: its task, and who asked (who may stop it)."""

    request_id: str
    requester_id: int
    target: AnswerTarget
    task: asyncio.Task[ReplyResult]


class AnswerRunner:
    def __init__(
        self,
        *,
        service: ReplyService,
        conversations: Conversations,
        settings: DiscordSettings,
        scheduler: EditScheduler,
    ) -> None:
        self._service = service
        self._conversations = conversations
        self._settings = settings
        self._scheduler = scheduler
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: dict[str, Running] = {}
        self._closing = False

    # -- tracked work ----------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``work`` in a task that ``close`` cancels and awaits."""
        if self._closing:
            work.close()
            return
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s failed", task.get_name(), exc_info=error)

    async def drain(self, grace: float) -> None:
        """Take no new work; give the work in flight up to ``grace`` seconds to finish."""
        self._closing = True
        if self._tasks and grace > 0:
            await asyncio.wait(list(self._tasks), timeout=grace)

    async def close(self) -> None:
        """Cancel every answer and piece of work, and wait until they have finished."""
        self._closing = True
        for running in list(self._running.values()):
            running.task.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- answers ---------------------------------------------------------------------

    def begin(
        self,
        request_id: str,
        requester_id: int,
        target: AnswerTarget,
        work: Work,
        *,
        key: ThreadKey,
    ) -> Running:
        """Start an answer in ``key``'s thread now (synchronously: the service takes the
        thread's turn in the order answers begin); finish it with ``complete``."""
        reply = StreamedReply(target, self._scheduler, render_discord)
        task = asyncio.create_task(work(reply), name=f"discord-answer-{request_id}")
        self._service.stops.watch(PLATFORM, request_id, task)  # a Stop clicked on another worker
        running = Running(request_id, requester_id, target, task)
        self._running[request_id] = running
        return running

    async def complete(self, running: Running) -> ReplyResult | None:
        """Wait for the answer; put Regenerate under it. ``None``: stopped by the button."""
        try:
            result: ReplyResult | None = await running.task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # Shutting down: the service has finished and stored the answer; give
                # it Regenerate while the connection is still open.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5):
                        await self._show_controls(running.target, None, stop_removed=False)
                raise
            result = None  # the Stop button, whose click already removed it
        finally:
            self._running.pop(running.request_id, None)
            await running.target.close()
        await self._show_controls(running.target, result, stop_removed=result is None)
        return result

    async def answer(
        self, incoming: Incoming, target: AnswerTarget, *, request_id: str, requester_id: int
    ) -> ReplyResult | None:
        def work(sink: ReplySink) -> Coroutine[Any, Any, ReplyResult]:
            return self._service.handle(incoming, sink)

        running = self.begin(request_id, requester_id, target, work, key=incoming.key)
        return await self.complete(running)

    @property
    def scheduler(self) -> EditScheduler:
        """The connection's shared budget, for requests that are not a reply's edits."""
        return self._scheduler

    def answering(self, request_id: str) -> bool:
        """Is the answer to ``request_id`` being written now?"""
        return request_id in self._running

    def stop(self, request_id: str) -> bool:
        running = self._running.get(request_id)
        if running is None:
            return False
        running.task.cancel()
        return True

    async def _show_controls(
        self, target: AnswerTarget, result: ReplyResult | None, *, stop_removed: bool
    ) -> None:
        """Regenerate under the last message; Stop (on the first) gone."""
        refs = target.posted
        if not refs:
            return  # a duplicate delivery: nothing was posted
        turn_id = await self._answer_turn(refs[0], result)
        if not stop_removed and len(refs) > 1:
            await self._show(target, refs[0], None)
        await self._show(target, refs[-1], _controls(turn_id, result))

    async def _answer_turn(self, first: MessageRef, result: ReplyResult | None) -> int | None:
        if result is not None:
            return result.turn_id if result.outcome is not Outcome.DUPLICATE else None
        # Stopped or shut down: the service stored the interrupted answer with its message ids.
        stored = await self._conversations.find(PLATFORM, first.id)
        if stored is None or stored.turn.role is not Role.ASSISTANT:
            return None
        return stored.turn.id

    async def _show(
        self, target: AnswerTarget, ref: MessageRef, view: discord.ui.View | None
    ) -> None:
        try:
            # Inside the connection's budget: this edit counts like the answer's own,
            # after the first words and final edits of the answers still streaming.
            await self._scheduler.spend(
                target.bucket, lambda: target.show_view(ref, view), urgent=False
            )
        except ThreadlineError as error:  # the answer stands without its buttons
            log.warning("could not update an answer's buttons: %s", error)

    # -- buttons (views.ButtonHandler) -----------------------------------------------

    async def stop_clicked(self, interaction: discord.Interaction[Any], request_id: str) -> None:
        if not await self._admitted(interaction):
            return
        running = self._running.get(request_id)
        requester = running.requester_id if running else await self._asker(request_id)
        if requester is not None and not await self._may_stop(interaction, requester):
            await interaction.response.send_message(
                wording.stop_not_yours("discord"), ephemeral=True
            )
            return
        # Answering by updating the message removes the button at once, and costs no
        # channel request: interaction callbacks have no rate limit of the channel's.
        await interaction.response.edit_message(view=None)
        if not self.stop(request_id) and requester is not None:
            await self._service.stops.request(PLATFORM, request_id)  # streaming elsewhere

    async def _asker(self, request_id: str) -> int | None:
        """Who asked the question ``request_id`` names, if it is stored (an answer not
        running here may stream on another worker); None: a stale button."""
        author = await self._service.asker(PLATFORM, request_id)
        return int(author) if author is not None and author.isdigit() else None

    async def regenerate_clicked(self, interaction: discord.Interaction[Any], turn_id: int) -> None:
        if not await self._admitted(interaction):
            return
        await interaction.response.edit_message(view=None)  # acknowledged within 3 s
        self.spawn(self._regenerate(interaction, turn_id), f"discord-regenerate-{turn_id}")

    async def _regenerate(self, interaction: discord.Interaction[Any], turn_id: int) -> None:
        message = interaction.message
        stored = await self._conversations.find(PLATFORM, str(message.id)) if message else None
        if stored is None:  # the answer's conversation is gone (deleted, or another database)
            with contextlib.suppress(discord.HTTPException):
                await interaction.followup.send(wording.nothing_to_regenerate(), ephemeral=True)
            return
        request_id = interaction_message_id(interaction.id)
        target = InteractionTarget(
            interaction, controls=stop_controls(request_id), edit_original=False
        )

        def work(sink: ReplySink) -> Coroutine[Any, Any, ReplyResult]:
            return self._service.regenerate(stored.key, turn_id, sink)

        running = self.begin(request_id, interaction.user.id, target, work, key=stored.key)
        await self.complete(running)

    async def _may_stop(self, interaction: discord.Interaction[Any], requester_id: int) -> bool:
        manages = interaction.permissions.manage_messages

        async def platform_admin() -> bool:
            return manages

        return await may_stop(
            str(interaction.user.id),
            requester_id=str(requester_id),
            admin_user_ids=[str(user) for user in self._settings.admin_user_ids],
            platform_admin=platform_admin,
        )

    async def keep_clicked(
        self, interaction: discord.Interaction[Any], turn_id: int, number: int
    ) -> None:
        """A Keep button (adapters/discord/keep.py): the core decides, the thread is told."""
        if not await self._admitted(interaction):
            return
        await interaction.response.defer()  # acknowledged within 3 s; the buttons stay
        message = interaction.message
        stored = await self._conversations.find(PLATFORM, str(message.id)) if message else None
        if stored is None:
            sentence = wording.nothing_to_keep()
        else:
            sentence = await self._service.keep(stored.key, turn_id, number)
        with contextlib.suppress(discord.HTTPException):
            await interaction.followup.send(sentence, allowed_mentions=NO_PINGS)

    async def _admitted(self, interaction: discord.Interaction[Any]) -> bool:
        if may_use(self._settings, requester_of(interaction.user, interaction.channel)):
            return True
        await interaction.response.send_message(wording.not_allowed(), ephemeral=True)
        return False


def _controls(turn_id: int | None, result: ReplyResult | None) -> discord.ui.View | None:
    """Regenerate under a finished answer; with candidates, a Keep button for each too."""
    if turn_id is None:
        return None
    if result is not None and result.candidates:
        return candidate_controls(turn_id, result.candidates)
    return regenerate_controls(turn_id)
