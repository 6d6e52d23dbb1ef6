"""``SlackBot``: threadline on Slack through slack-bolt's ``AsyncApp``.

Connection modes, chosen by configuration (Bolt's standard variable names):

- Socket Mode when ``SLACK_APP_TOKEN`` (xapp-…) is set: Slack pushes envelopes
  over a WebSocket (https://docs.slack.dev/apis/events-api/using-socket-mode).
- Otherwise HTTP mode: an aiohttp server answering ``POST /slack/events``, every
  request's signature checked by Bolt with ``SLACK_SIGNING_SECRET``
  (https://docs.slack.dev/authentication/verifying-requests-from-slack).

``SLACK_BOT_TOKEN`` (xoxb-…) drives the Web API through one ``AsyncWebClient``
whose ``base_url`` is ``settings.slack.api_url``.

Slack wants every event and command acknowledged within 3 seconds, and retries
otherwise (https://docs.slack.dev/apis/events-api/#retries). So each listener
acknowledges first and leaves the work to a background task this class tracks
(and cancels in ``stop``). Own and other bots' messages are dropped at the door;
a retried delivery is dropped by its ``event_id`` (Bolt does not de-duplicate), and
a message delivered twice (``message`` and ``app_mention``) by its team, channel and
``ts``: both through the ``Coordination`` port's ``first_sighting``, so that several
HTTP-mode workers behind one load balancer answer once (deliveries.py). The
store's idempotency on message ids stays the last guarantee.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.assistant import AssistantThreads
from adapters.slack.buttons import REGENERATE_ACTION, STOP_ACTION, click_of
from adapters.slack.catchup import CatchUp
from adapters.slack.clicks import Clicks
from adapters.slack.commands import COMMANDS, SlashCommands, command_reply
from adapters.slack.deliveries import Deliveries
from adapters.slack.events import EventHandler
from adapters.slack.files import FileReader, slack_downloader
from adapters.slack.gate import events_runner
from adapters.slack.history import ThreadHistory
from adapters.slack.identity import auth_test as _auth_test
from adapters.slack.identity import identity as _identity
from adapters.slack.identity import share_auth_test as _share_auth_test
from adapters.slack.keep import KEEP_ACTION, keep_clicked
from adapters.slack.names import UserNames
from adapters.slack.native import NativeStreams, StreamOptions
from adapters.slack.pacer import MethodPacer
from adapters.slack.recovery import SlackRepairer
from adapters.slack.redaction import redact_every_call
from adapters.slack.replies import Replies
from adapters.slack.translate import (
    PLATFORM,
    BotIdentity,
    PersonMessage,
    command_message_id,
    event_from_body,
    event_id,
    retry_number,
    slash_command,
)
from bot import wording
from bot.access import slack_lists
from bot.conversation_settings import SettingsDesk
from bot.coordination import Coordination, InProcessCoordination
from bot.domain import StoredTurn
from bot.errors import ConfigError, ThreadlineError
from bot.fetch import Downloader
from bot.files import FileLimits
from bot.models import ModelCatalog
from bot.ports import Clock, ConversationStore, SystemClock
from bot.redact import redactor_for
from bot.service import ReplyService
from bot.settings import Settings
from bot.streaming import SLACK_BUDGET, EditScheduler

__all__ = ["EVENTS_PATH", "SlackBot"]

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
EVENTS = ("app_mention", "message", "assistant_thread_started", "assistant_thread_context_changed")


class SlackBot:
    """One Slack workspace connection; ``start`` and ``stop`` own every lifetime."""

    def __init__(
        self,
        settings: Settings,
        *,
        service: ReplyService,
        store: ConversationStore,
        catalog: ModelCatalog,
        clock: Clock | None = None,
        unanswered: Sequence[StoredTurn] = (),
        coordination: Coordination | None = None,
    ) -> None:
        self._settings = settings
        self._redact = redactor_for(settings)
        # Once connected the answers still owed are shown (recovery.py, bot/delivery.py),
        # then these are answered (ReplyService.unanswered).
        self._unanswered = list(unanswered)
        self._service = service
        self._store = store
        self._catalog = catalog
        self._clock = clock or SystemClock()
        # Shared with the other workers when they share a Coordination (REDIS_URL).
        self._seen = Deliveries(
            coordination or InProcessCoordination(), settings.slack.dedup_seconds
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._stack: contextlib.AsyncExitStack | None = None
        self._me: BotIdentity | None = None
        self._events: EventHandler | None = None
        self._replies: Replies | None = None
        self._commands: SlashCommands | None = None
        self._clicks: Clicks | None = None
        self._address: tuple[str, int] | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._scheduler: EditScheduler | None = None
        self._catchup: CatchUp | None = None

    @property
    def http_address(self) -> tuple[str, int] | None:
        """(host, port) the HTTP-mode server listens on; None in Socket Mode."""
        return self._address

    @property
    def connected(self) -> bool:
        """For /healthz: the Socket Mode websocket is open, or the HTTP-mode server listens."""
        if self._socket is not None:
            client = self._socket.client
            session = client.current_session
            return not (client.closed or client.stale or session is None or session.closed)
        return self._address is not None

    @property
    def rate_limited(self) -> int | None:
        """For /metrics: 429s Slack answered to this connection (None before ``start``)."""
        return self._scheduler.stats.rate_limited if self._scheduler is not None else None

    # -- lifetime --------------------------------------------------------------------

    async def start(self) -> None:
        """Connect: Socket Mode with an app token, else serve ``POST /slack/events``."""
        slack = self._settings.slack
        if slack.bot_token is None:
            raise ConfigError(wording.slack_no_bot_token())
        if slack.app_token is None and slack.signing_secret is None:
            raise ConfigError(wording.slack_no_connection_mode())
        if self._stack is not None:
            return
        stack = contextlib.AsyncExitStack()
        try:
            await self._open(stack)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    async def stop(self) -> None:
        """Stop accepting, end the answers in flight, close sockets and sessions."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()
        self._address = None
        self._socket = None

    async def drain(self, grace: float) -> None:
        """Take no new events or commands; give the work in flight up to ``grace``
        seconds to finish (``stop`` then ends the rest, each with the stopped notice)."""
        self._closing = True
        if self._tasks and grace > 0:
            await asyncio.wait(list(self._tasks), timeout=grace)

    async def idle(self) -> None:
        """Wait until the work in flight (answers, commands, the catch-up) has finished.

        Recovery starts the catch-up at its end, and the catch-up hands on messages
        as new tasks: so tasks, then the catch-up, until neither has work left."""
        while True:
            while self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._catchup is not None:
                await self._catchup.wait()
            if not self._tasks:
                return

    async def _open(self, stack: contextlib.AsyncExitStack) -> None:
        slack = self._settings.slack
        assert slack.bot_token is not None
        session = aiohttp.ClientSession()
        stack.push_async_callback(session.close)
        client = AsyncWebClient(
            token=slack.bot_token.get_secret_value(), base_url=slack.api_url, session=session
        )
        redact_every_call(client, self._redact)
        auth_test = await _auth_test(client)
        self._me = me = _identity(auth_test)
        scheduler = await stack.enter_async_context(EditScheduler(SLACK_BUDGET, self._clock))
        self._scheduler = scheduler
        # Shared files come from Slack's hosts only, the token with them (bot/fetch.py).
        downloader = await stack.enter_async_context(
            slack_downloader(slack.bot_token.get_secret_value(), slack.api_url)
        )
        streams = self._wire(client, downloader, scheduler, me)
        stack.push_async_callback(streams.close)
        stack.push_async_callback(self._end_tasks)
        assert self._catchup is not None  # _wire made it
        stack.push_async_callback(self._catchup.aclose)
        replies = self._replies
        assert replies is not None  # _wire made it
        deliveries = self._service.deliveries
        deliveries.attach(PLATFORM, SlackRepairer(client, scheduler, replies.target))
        stack.push_async_callback(deliveries.detach, PLATFORM)
        questions, self._unanswered = self._unanswered, []
        self._spawn(self._recover(questions))
        app = self._bolt_app(client)
        _share_auth_test(app, auth_test)
        if slack.app_token is not None:
            handler = AsyncSocketModeHandler(app, slack.app_token.get_secret_value())
            await handler.connect_async()  # type: ignore[no-untyped-call]
            self._socket = handler
            stack.push_async_callback(handler.close_async)
            log.info("connected to Slack in Socket Mode as %s", me.user_id)
        else:
            assert slack.signing_secret is not None  # start() checked
            secret = slack.signing_secret.get_secret_value()
            runner = events_runner(app, EVENTS_PATH, secret, self._clock)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, slack.http_host, slack.http_port)
            await site.start()
            host, port = runner.addresses[0][:2]
            self._address = (str(host), int(port))
            log.info("serving Slack events on %s:%s%s", host, port, EVENTS_PATH)

    def _wire(
        self,
        client: AsyncWebClient,
        downloader: Downloader,
        scheduler: EditScheduler,
        me: BotIdentity,
    ) -> NativeStreams:
        """Build the parts that answer events and commands; return the native streams."""
        slack = self._settings.slack
        assert slack.bot_token is not None
        options = StreamOptions(
            append_interval=slack.stream_append_interval,
            appends_per_minute=slack.stream_appends_per_minute,
            rollover_after=slack.stream_rollover_seconds,
            max_chars=slack.stream_max_chars,
        )
        streams = NativeStreams(
            client, scheduler, options, self._clock, enabled=slack.native_streaming
        )
        replies = Replies(client, self._service, streams, AssistantThreads(client), self._store)
        self._replies = replies
        names = UserNames(client)
        # The thread import and the catch-up at start share conversations.replies' budget.
        replies_scope = f"slack:{me.team_id}:conversations.replies"
        pacer = MethodPacer(self._store, replies_scope, slack.history_import_interval, self._clock)
        history = ThreadHistory(
            client, self._store, names, me=me, limit=slack.history_import_messages, pacer=pacer
        )
        within = self._settings.limits.reask_within_seconds
        self._catchup = CatchUp(client, self._store, pacer, me, self._clock, within=within)
        files = FileReader(downloader, FileLimits(slack.max_image_bytes, slack.max_text_file_bytes))
        lists = slack_lists(slack)
        self._events = EventHandler(
            store=self._store,
            replies=replies,
            history=history,
            names=names,
            files=files,
            lists=lists,
        )
        self._clicks = Clicks(
            client=client,
            replies=replies,
            names=names,
            lists=lists,
            admin_user_ids=slack.admin_user_ids,
        )
        desk = SettingsDesk(
            self._store, self._catalog, platform=PLATFORM, admin_user_ids=slack.admin_user_ids
        )
        self._commands = SlashCommands(
            store=self._store,
            catalog=self._catalog,
            replies=replies,
            names=names,
            lists=lists,
            desk=desk,
        )
        return streams

    def _bolt_app(self, client: AsyncWebClient) -> AsyncApp:
        secret = self._settings.slack.signing_secret
        socket_mode = self._settings.slack.app_token is not None
        app = AsyncApp(
            name="threadline",
            client=client,
            signing_secret=secret.get_secret_value() if secret is not None else "",
            request_verification_enabled=not socket_mode,
            logger=logging.getLogger("slack_bolt"),
        )
        for name in EVENTS:
            app.event(name)(self._on_event)
        for name in COMMANDS:
            app.command(name)(self._on_command)
        for action in (STOP_ACTION, REGENERATE_ACTION):
            app.action(action)(self._on_click)
        app.action(KEEP_ACTION)(self._on_keep)
        return app

    async def _recover(self, questions: list[StoredTurn]) -> None:
        """Show the answers still owed (a crash cut them, an outage kept them), then
        answer the questions a stop left waiting: each in a task of its own, begun in
        the order asked (so each takes its thread's turn in that order); then catch up."""
        await self._service.deliveries.resume(PLATFORM)
        replies = self._replies
        assert replies is not None  # _wire made it
        for question in questions:
            self._spawn(_reasked(replies, question))
        events, catchup = self._events, self._catchup  # then what Slack got while we were down
        if events is not None and catchup is not None:
            catchup.start(lambda event: self._spawn(events.handle(event)))

    # -- listeners (Bolt passes arguments by parameter name) -------------------------

    async def _on_event(
        self, ack: AsyncAck, body: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        await ack()
        delivery = event_id(body)
        if delivery is not None and not await self._seen.first(delivery):
            log.info("dropped retry %d of %s", retry_number(request.headers), delivery)
            return
        assert self._me is not None
        assert self._events is not None
        event = event_from_body(body, self._me)
        if event is None:
            return
        if isinstance(event, PersonMessage) and not await self._seen.first_message(event):
            log.info("dropped a second delivery of %s", event.incoming.message_id)
            return
        self._spawn(self._events.handle(event))

    async def _on_command(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await ack()
        assert self._commands is not None
        command = slash_command(body)
        # Sent again, a command would quote its question in the channel again before
        # the store could tell it is a duplicate: its trigger_id tells it at the door
        # (and, after a restart, the stored question: SlashCommands._asked_before).
        if command.trigger_id and not await self._seen.first(
            command_message_id(command.trigger_id)
        ):
            log.info("dropped a repeated %s (trigger %s)", command.name, command.trigger_id)
            return
        self._spawn(
            self._commands.run(command, command_reply(client, command, respond, self._redact))
        )

    async def _on_click(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """A Stop or Regenerate button (a ``block_actions`` payload): acknowledged first."""
        await ack()
        assert self._clicks is not None
        click = click_of(body)
        if click is not None:
            self._spawn(self._clicks.handle(click, respond))

    async def _on_keep(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()  # within 3 s; keeping and telling the thread follow
        self._spawn(keep_clicked(self._service, client, body))

    # -- background work ---------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        if self._closing:  # shutting down: acknowledged, but not answered
            work.close()
            return
        task = asyncio.create_task(_logged(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _end_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _reasked(replies: Replies, question: StoredTurn) -> None:
    result = await replies.reask(question)
    log.info("question %s in %s, asked again: %s", question.turn.id, question.key, result.outcome)


async def _logged(work: Coroutine[Any, Any, None]) -> None:
    """Run one piece of work; a failure is logged, never lost in an unawaited task."""
    try:
        await work
    except ThreadlineError as error:
        log.warning("slack work failed: %s", error.user_message)
    except Exception:
        log.exception("slack work failed")
