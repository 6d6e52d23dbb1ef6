"""Answers that outlive a crash: the next start finishes them.

The core stores an answer's turn before its first message and names its
messages on it as they are posted (``ReportingSink``), so a process killed
mid-answer leaves a turn that says where its ⏳ marker and Stop button are:

- at start, every answer still owed (``bot.delivery``: a crash's ``interrupted``
  answers, outages' undelivered ones, repairs a second crash cut) is replayed
  into its own messages by ``DiscordRepairer``, ending with the interrupted
  notice; Regenerate goes under the last message. One that fails stays owed and
  is tried again with backoff (and at the next start);
- then ``answer_unanswered`` answers the questions the stop left waiting
  (``ReplyService.unanswered``) where the live answer would have gone, through
  the ``AnswerRunner`` like any answer (Stop, streaming, Regenerate).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import discord

from adapters.discord.answers import AnswerRunner, Running
from adapters.discord.target import ChannelTarget, Postable
from adapters.discord.views import regenerate_controls, stop_controls
from bot import wording
from bot.delivery import ReplayTarget, ending
from bot.domain import StoredTurn
from bot.errors import PlatformError, ThreadlineError
from bot.ports import (
    MessageRef,
    ReplySink,
)
from bot.render import render_discord
from bot.service import ReplyResult, ReplyService
from bot.streaming import EditScheduler, StreamedReply

log = logging.getLogger(__name__)


class DiscordRepairer:
    """``bot.delivery.Repairer`` for Discord: replays a stored answer into its own
    messages through the connection's edit scheduler (the n-th part edits the n-th
    message; more parts are new messages), ending as it ended (``delivery.ending``);
    Regenerate goes under the last message and Stop leaves the first.
    """

    def __init__(self, client: discord.Client, scheduler: EditScheduler) -> None:
        self._client = client
        self._scheduler = scheduler

    async def repair(self, answer: StoredTurn) -> tuple[str, ...]:
        try:
            return await self._repair(answer)
        except (discord.HTTPException, ValueError) as error:
            raise PlatformError(wording.platform_unreachable("discord"), code=str(error)) from error

    async def tell(self, answer: StoredTurn) -> None:
        channel_id = answer.key.thread or answer.key.channel
        target = ChannelTarget(self._client.get_partial_messageable(int(channel_id)))
        for message in answer.turn.reply_message_ids:  # no dead Stop button, if Discord lets us
            ref = MessageRef(channel_id, message)
            with contextlib.suppress(ThreadlineError, discord.HTTPException):
                await self._scheduler.spend(
                    target.bucket, functools.partial(target.show_view, ref, None)
                )
        text = wording.answer_not_shown()
        await self._scheduler.spend(target.bucket, lambda: target.post(text))

    async def _repair(self, answer: StoredTurn) -> tuple[str, ...]:
        turn = answer.turn
        assert turn.id is not None
        # A Discord thread is a channel of its own: its id is the key's thread.
        channel_id = answer.key.thread or answer.key.channel
        target = ChannelTarget(self._client.get_partial_messageable(int(channel_id)))
        existing = [MessageRef(channel_id, message_id) for message_id in turn.reply_message_ids]
        reply = StreamedReply(ReplayTarget(target, existing), self._scheduler, render_discord)
        await reply.start()
        await reply.append(turn.text)
        shown = await reply.finish(ending(answer))  # NotDelivered when an edit did not land
        for extra in existing[len(shown) :]:  # the replay needed fewer messages than it had
            await self._scheduler.spend(target.bucket, functools.partial(target.delete, extra))
        first, last = MessageRef(channel_id, shown[0]), MessageRef(channel_id, shown[-1])
        if first != last:
            await self._scheduler.spend(target.bucket, lambda: target.show_view(first, None))
        view = regenerate_controls(turn.id)
        await self._scheduler.spend(target.bucket, lambda: target.show_view(last, view))
        log.info("finished answer %s in %s", turn.id, answer.key)
        return shown


async def answer_unanswered(
    client: discord.Client,
    runner: AnswerRunner,
    service: ReplyService,
    questions: Sequence[StoredTurn],
) -> None:
    """Answer each question a stop left waiting, in the order given (oldest first).

    Every place is found first, then every answer begins at once, so each takes
    its thread's turn in that order. A question whose place cannot be found is
    logged and left for the next start.
    """
    placed: list[tuple[StoredTurn, ChannelTarget]] = []
    for question in questions:
        try:
            channel, reply_to = await _place(client, question)
        except (discord.HTTPException, ValueError) as error:
            log.warning("could not find where question %s was asked: %s", question.turn.id, error)
            continue
        request = _request_id(question)
        target = ChannelTarget(channel, controls=stop_controls(request), reply_to=reply_to)
        placed.append((question, target))
    begun: list[Running] = [
        runner.begin(
            _request_id(question),
            _requester(question),
            target,
            _reask(service, question),
            key=question.key,
        )
        for question, target in placed
    ]
    await asyncio.gather(*(runner.complete(running) for running in begun))
    log.info("answered %d questions left waiting", len(begun))


async def _place(
    client: discord.Client, question: StoredTurn
) -> tuple[Postable, discord.MessageReference | None]:
    """Where the live answer would have gone: the question's thread or DM, else in
    place in its channel (the key's thread then names the message or interaction
    that started the conversation: not a channel). The answer replies to the
    question when the question is in that channel."""
    key, asked_in = question.key, question.turn.platform_message_id or ""
    where = key.thread
    if key.thread != key.channel:  # not a DM: is the key's thread a thread?
        try:
            await client.fetch_channel(int(key.thread))
        except discord.NotFound:
            where = key.channel
    channel = client.get_partial_messageable(int(where))
    # A thread opened from the question has the question's id; the question is in its parent.
    if not asked_in.isdigit() or asked_in == where:
        return channel, None
    reference = discord.MessageReference(
        message_id=int(asked_in), channel_id=int(where), fail_if_not_exists=False
    )
    return channel, reference


def _request_id(question: StoredTurn) -> str:
    """The runner's name for the answer (its Stop button's): the question's message id."""
    return question.turn.platform_message_id or f"turn:{question.turn.id}"


def _requester(question: StoredTurn) -> int:
    author = question.turn.author_id
    return int(author) if author.isdigit() else 0


def _reask(
    service: ReplyService, question: StoredTurn
) -> Callable[[ReplySink], Coroutine[Any, Any, ReplyResult]]:
    def work(sink: ReplySink) -> Coroutine[Any, Any, ReplyResult]:
        return service.reask(question, sink)

    return work
