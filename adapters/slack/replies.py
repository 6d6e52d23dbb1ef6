"""Answers into Slack: the right sink for a place, and the notices around answers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.answers import Answers
from adapters.slack.assistant import AssistantThreads
from adapters.slack.keep import offer_keep
from adapters.slack.mentions import mrkdwn
from adapters.slack.native import NativeStreams
from adapters.slack.target import SlackTarget
from adapters.slack.translate import PLATFORM, ReplyPlace, place_of
from bot.allowance import UsageReport
from bot.conversations import Conversations
from bot.domain import Incoming, StoredTurn, ThreadKey
from bot.errors import ThreadlineError
from bot.params import ParamsDesk
from bot.ports import ReplySink
from bot.service import ReplyResult, ReplyService

__all__ = ["Replies"]

log = logging.getLogger(__name__)


class Replies:
    def __init__(
        self,
        client: AsyncWebClient,
        service: ReplyService,
        streams: NativeStreams,
        assistant: AssistantThreads,
        conversations: Conversations,
    ) -> None:
        self._client = client
        self._conversations = conversations
        self._service = service
        self._streams = streams
        self.assistant = assistant
        self.answers = Answers(client, streams.scheduler, conversations, service.stops)

    async def asker(self, request_id: str) -> str | None:
        """Who asked the stored question ``request_id`` (None: a stale button)."""
        return await self._service.asker(PLATFORM, request_id)

    @property
    def params(self) -> ParamsDesk:
        """``/settings`` and the per-question parameter checks (bot/params.py)."""
        return self._service.params

    async def offer_keep(self, place: ReplyPlace, candidates: tuple[int, ...]) -> None:
        """Keep buttons under an answer with candidates (adapters/slack/keep.py)."""
        await offer_keep(self._client, place, candidates)

    def target(self, place: ReplyPlace) -> SlackTarget:
        return SlackTarget(self._client, place, self.assistant)

    async def answer(self, incoming: Incoming, place: ReplyPlace) -> ReplyResult:
        """One answer, natively streamed where Slack allows it (see ``native``)."""

        def work(sink: ReplySink) -> Coroutine[Any, Any, ReplyResult]:
            return self._service.handle(incoming, sink)

        return await self._run(incoming.key, place, incoming.message_id, incoming.author_id, work)

    async def reask(self, question: StoredTurn) -> ReplyResult:
        """Answer a question a stop left waiting (``ReplyService.reask``) in its thread,
        like any answer. It takes its thread's turn before its first ``await``."""
        place = place_of(question.key, question.turn.author_id)

        def work(sink: ReplySink) -> Coroutine[Any, Any, ReplyResult]:
            return self._service.reask(question, sink)

        request_id = question.turn.platform_message_id or f"turn:{question.turn.id}"
        return await self._run(question.key, place, request_id, question.turn.author_id, work)

    async def regenerate(
        self, key: ThreadKey, turn_id: int, place: ReplyPlace, request_id: str
    ) -> ReplyResult:
        """Answer an answer's question again (the Regenerate button)."""

        def work(sink: ReplySink) -> Coroutine[Any, Any, ReplyResult]:
            return self._service.regenerate(key, turn_id, sink)

        return await self._run(key, place, request_id, place.recipient_user_id, work)

    async def _run(
        self,
        key: ThreadKey,
        place: ReplyPlace,
        request_id: str,
        requester_id: str,
        work: Callable[[ReplySink], Coroutine[Any, Any, ReplyResult]],
    ) -> ReplyResult:
        reply = self._streams.reply(self.target(place))
        return await self.answers.run(
            key=key,
            place=place,
            request_id=request_id,
            requester_id=requester_id,
            reply=reply,
            sink=reply,
            work=work,
        )

    async def usage(self, place: ThreadKey, user_id: str) -> UsageReport:
        """Today's tokens for ``/usage`` (the service's figures, as the quotas see them)."""
        return await self._service.usage(place, user_id)

    async def notice(self, place: ReplyPlace, markdown: str) -> None:
        """A short message in the thread that is not an answer (never raises)."""
        try:
            await self.target(place).post(mrkdwn(markdown))
        except ThreadlineError as error:
            log.warning("could not post a notice in %s: %s", place.channel, error.user_message)
