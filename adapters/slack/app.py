"""``SlackBot``: threadline on Slack through slack-bolt's ``AsyncApp``.

Socket Mode with ``SLACK_APP_TOKEN``, else HTTP mode (``POST /slack/events``): connection.py.

``SLACK_BOT_TOKEN`` (xoxb-…) drives the Web API through an ``AsyncWebClient``
whose ``base_url`` is ``settings.slack.api_url``. With ``SLACK_CLIENT_ID`` and
``SLACK_CLIENT_SECRET`` (HTTP mode) the app is distributed: Bolt serves the install
and OAuth-redirect routes, authorizes each request with its workspace's installed
token (installs.py), and each workspace is answered by parts of its own (team.py,
workspaces.py), built on its first request; ``SLACK_BOT_TOKEN`` may then be left out.

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
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.buttons import click_of
from adapters.slack.commands import command_reply
from adapters.slack.connection import EVENTS, REVOCATION_EVENTS, Listeners, bolt_app, connect
from adapters.slack.deliveries import Deliveries
from adapters.slack.identity import auth_test as _auth_test
from adapters.slack.identity import identity as _identity
from adapters.slack.identity import share_auth_test as _share_auth_test
from adapters.slack.installs import InstallRecords, home_install, oauth_parts, secret_in_form
from adapters.slack.keep import keep_clicked
from adapters.slack.recovery import SlackRepairer, WorkspaceRepairer
from adapters.slack.replies import Replies
from adapters.slack.team import Shared, Team, team_client
from adapters.slack.translate import (
    PLATFORM,
    PersonMessage,
    command_message_id,
    event_from_body,
    event_id,
    retry_number,
    slash_command,
)
from adapters.slack.workspaces import Workspaces
from bot import wording
from bot.conversations import Conversations
from bot.coordination import Coordination, InProcessCoordination
from bot.domain import StoredTurn
from bot.errors import ConfigError, ThreadlineError
from bot.models import ModelCatalog
from bot.ports import Clock, SystemClock
from bot.redact import redactor_for
from bot.service import ReplyService
from bot.settings import Settings

__all__ = ["EVENTS", "EVENTS_PATH", "REVOCATION_EVENTS", "SlackBot"]

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


class SlackBot:
    """One Slack app connection (one workspace, or many installed by OAuth);
    ``start`` and ``stop`` own every lifetime."""

    def __init__(
        self,
        settings: Settings,
        *,
        service: ReplyService,
        conversations: Conversations,
        catalog: ModelCatalog,
        clock: Clock | None = None,
        unanswered: Sequence[StoredTurn] = (),
        coordination: Coordination | None = None,
        installs: InstallRecords | None = None,
        budgets: Coordination | None = None,
    ) -> None:
        self._settings = settings
        self._budgets = budgets  # several workers: each workspace's budgets spent together
        self._redact = redactor_for(settings)
        # Once connected the answers still owed are shown (recovery.py, bot/delivery.py),
        # then these are answered (ReplyService.unanswered).
        self._unanswered = list(unanswered)
        self._service = service
        self._conversations = conversations
        self._catalog = catalog
        self._clock = clock or SystemClock()
        self._coordination = coordination or InProcessCoordination()
        self._installs = installs
        # Shared with the other workers when they share a Coordination (REDIS_URL).
        self._seen = Deliveries(self._coordination, settings.slack.dedup_seconds)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._stack: contextlib.AsyncExitStack | None = None
        self._workspaces: Workspaces | None = None  # each workspace's parts, from start
        self._address: tuple[str, int] | None = None
        self._socket: AsyncSocketModeHandler | None = None

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
        if self._workspaces is None:
            return None
        return sum(team.scheduler.stats.rate_limited for team in self._workspaces)

    @property
    def distributed(self) -> bool:
        """Installed by OAuth into any number of workspaces (client id and secret set)."""
        slack = self._settings.slack
        return slack.client_id is not None and slack.client_secret is not None

    # -- lifetime --------------------------------------------------------------------

    async def start(self) -> None:
        """Connect: Socket Mode with an app token, else serve ``POST /slack/events``."""
        slack = self._settings.slack
        if (slack.client_id is None) != (slack.client_secret is None):
            raise ConfigError(wording.slack_oauth_half_set())
        if self.distributed and (slack.app_token is not None or slack.signing_secret is None):
            raise ConfigError(wording.slack_oauth_needs_http_mode())
        if slack.bot_token is None and not self.distributed:
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
        if self._workspaces is not None:
            self._workspaces.clear()

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
            for team in self._teams():
                await team.catchup.wait()
            if not self._tasks:
                return

    async def _open(self, stack: contextlib.AsyncExitStack) -> None:
        slack = self._settings.slack
        session = aiohttp.ClientSession()
        stack.push_async_callback(session.close)
        shared = Shared(
            self._settings,
            self._service,
            self._conversations,
            self._catalog,
            self._clock,
            self._redact,
            session,
            self._budgets,
        )
        # Each workspace's parts close after the tasks using them have ended, and
        # those after the catch-ups that hand them on.
        teams_stack = await stack.enter_async_context(contextlib.AsyncExitStack())
        self._workspaces = workspaces = Workspaces(teams_stack, shared, self._installs)
        stack.push_async_callback(self._end_tasks)
        stack.push_async_callback(self._end_catchups)
        auth_test = None
        if slack.bot_token is not None:
            token = slack.bot_token.get_secret_value()
            auth_test = await _auth_test(team_client(shared, token))
            await workspaces.open_home(token, _identity(auth_test))
        self._begin_recovery(stack)
        if self.distributed or auth_test is None:  # Bolt authorizes each request
            app = self._bolt_app(secret_in_form(team_client(shared, None)))
        else:
            assert workspaces.home is not None
            app = self._bolt_app(workspaces.home.client)
            _share_auth_test(app, auth_test)
        connected = await connect(app, slack, EVENTS_PATH, self._clock, stack)
        self._socket, self._address = connected.socket, connected.address

    def _begin_recovery(self, stack: contextlib.AsyncExitStack) -> None:
        """Answers still owed are repaired in their own workspace, with its token;
        then the questions a stop left waiting are asked again."""
        deliveries = self._service.deliveries
        deliveries.attach(PLATFORM, WorkspaceRepairer(self._repairer_for))
        stack.push_async_callback(deliveries.detach, PLATFORM)
        questions, self._unanswered = self._unanswered, []
        self._spawn(self._recover(questions, catch_up=True))

    def _bolt_app(self, client: AsyncWebClient) -> AsyncApp:
        oauth = None
        if self.distributed:
            assert self._installs is not None  # start() checked
            home = self._workspaces.home if self._workspaces is not None else None
            found = home_install(home.token, home.me) if home is not None else None
            oauth = oauth_parts(self._settings.slack, self._installs, self._coordination, found)
        listeners = Listeners(self._on_event, self._on_command, self._on_click, self._on_keep)
        return bolt_app(self._settings.slack, client, listeners, oauth)

    def take_over(self, questions: Sequence[StoredTurn]) -> None:
        """A dead worker's turns are ours (bot/workers.py): show its answers still owed
        and answer its questions, as a start does (no catch-up: this worker is up)."""
        if self._workspaces is not None:  # else not connected yet: the start will find them
            self._spawn(self._recover(list(questions), catch_up=False))

    async def _repairer_for(self, workspace: str) -> SlackRepairer | None:
        team = await self._installed_team(workspace)
        if team is None:
            return None
        return SlackRepairer(team.client, team.scheduler, team.replies.target)

    async def _installed_team(self, team_id: str) -> Team | None:
        """The parts answering an installed workspace, from its stored install."""
        workspaces = self._workspaces
        return None if workspaces is None else await workspaces.installed(team_id)

    async def _team(self, context: AsyncBoltContext) -> Team | None:
        """The parts answering the request's workspace (None: nothing to answer with)."""
        workspaces = self._workspaces
        return None if workspaces is None else await workspaces.of_request(context)

    def _teams(self) -> list[Team]:
        return [] if self._workspaces is None else list(self._workspaces)

    async def _recover(self, questions: list[StoredTurn], *, catch_up: bool) -> None:
        """Show the answers still owed (a crash cut them, an outage kept them), then
        answer the questions a stop left waiting, each in its own workspace with its
        token: each in a task of its own, begun in the order asked (so each takes its
        thread's turn in that order); then catch up with what Slack got meanwhile."""
        await self._service.deliveries.resume(PLATFORM)
        for team_id in dict.fromkeys(q.key.workspace for q in questions):
            team = await self._installed_team(team_id)
            waiting = [q for q in questions if q.key.workspace == team_id]
            if team is None:  # uninstalled since: there is no token to answer with
                log.warning("%d questions in %s not asked again: no install", len(waiting), team_id)
                continue
            for question in waiting:
                # Every worker starts with the same list: the first to claim one asks it.
                if await self._seen.claim(f"reask:{question.turn.id}"):
                    self._spawn(_reasked(team.replies, question))
        home = self._workspaces.home if self._workspaces is not None else None
        if catch_up and home is not None:
            # Not through the sightings: another worker's may name a message it never
            # stored (it died in between); the store keeps each message once.
            events = home.events
            home.catchup.start(lambda event: self._spawn(events.handle(event)))

    # -- listeners (Bolt passes arguments by parameter name) -------------------------

    async def _on_event(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        request: AsyncBoltRequest,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        delivery = event_id(body)
        if delivery is not None and not await self._seen.first(delivery):
            log.info("dropped retry %d of %s", retry_number(request.headers), delivery)
            return
        team = await self._team(context)
        if team is None:
            return
        event = event_from_body(body, team.me)
        if event is None:
            return
        if isinstance(event, PersonMessage) and not await self._seen.first_message(event):
            log.info("dropped a second delivery of %s", event.incoming.message_id)
            return
        self._spawn(team.events.handle(event))

    async def _on_command(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        command = slash_command(body)
        # Sent again, a command would quote its question in the channel again before
        # the store could tell it is a duplicate: its trigger_id tells it at the door
        # (and, after a restart, the stored question: SlashCommands._asked_before).
        if command.trigger_id and not await self._seen.first(
            command_message_id(command.trigger_id)
        ):
            log.info("dropped a repeated %s (trigger %s)", command.name, command.trigger_id)
            return
        team = await self._team(context)
        if team is not None:
            reply = command_reply(client, command, respond, self._redact)
            self._spawn(team.commands.run(command, reply))

    async def _on_click(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, context: AsyncBoltContext
    ) -> None:
        """A Stop or Regenerate button (a ``block_actions`` payload): acknowledged first."""
        await ack()
        click = click_of(body)
        team = await self._team(context)
        if click is not None and team is not None:
            self._spawn(team.clicks.handle(click, respond))

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

    async def _end_catchups(self) -> None:
        for team in self._teams():
            await team.catchup.aclose()

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
