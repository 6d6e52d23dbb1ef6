"""How Slack reaches the app: the Bolt app and its listeners, and the connection
mode, chosen by configuration (Bolt's standard variable names):

- Socket Mode when ``SLACK_APP_TOKEN`` (xapp-…) is set: Slack pushes envelopes
  over a WebSocket (https://docs.slack.dev/apis/events-api/using-socket-mode).
- Otherwise HTTP mode: an aiohttp server answering ``POST {path}``, every
  request's signature checked with ``SLACK_SIGNING_SECRET`` (gate.py,
  https://docs.slack.dev/authentication/verifying-requests-from-slack).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.buttons import REGENERATE_ACTION, STOP_ACTION
from adapters.slack.commands import COMMANDS
from adapters.slack.gate import events_runner
from adapters.slack.keep import KEEP_ACTION
from bot.ports import Clock
from bot.settings import SlackSettings

__all__ = ["EVENTS", "REVOCATION_EVENTS", "Connected", "Listeners", "bolt_app", "connect"]

log = logging.getLogger("adapters.slack.app")  # one log for the connection, as before


EVENTS = ("app_mention", "message", "assistant_thread_started", "assistant_thread_context_changed")
# A workspace removed the app or its token: Bolt's own listeners delete the install.
REVOCATION_EVENTS = ("app_uninstalled", "tokens_revoked")

Listener = Callable[..., Awaitable[None]]
OAuth = tuple[AsyncOAuthSettings, AsyncInstallationStoreAuthorize]


@dataclass(frozen=True, slots=True)
class Listeners:
    """What answers each request (Bolt passes their arguments by parameter name)."""

    event: Listener
    command: Listener
    click: Listener  # Stop and Regenerate
    keep: Listener


def bolt_app(
    slack: SlackSettings, client: AsyncWebClient, listeners: Listeners, oauth: OAuth | None
) -> AsyncApp:
    """The Bolt app; with ``oauth`` (installed by OAuth) it authorizes each request."""
    secret = slack.signing_secret
    socket_mode = slack.app_token is not None
    extra: dict[str, Any] = {}
    if oauth is not None:
        extra = {"oauth_settings": oauth[0], "authorize": oauth[1]}
    app = AsyncApp(
        name="threadline",
        client=client,
        signing_secret=secret.get_secret_value() if secret is not None else "",
        request_verification_enabled=not socket_mode,
        logger=logging.getLogger("slack_bolt"),
        **extra,
    )
    for name in EVENTS:
        app.event(name)(listeners.event)
    for name in COMMANDS:
        app.command(name)(listeners.command)
    for action in (STOP_ACTION, REGENERATE_ACTION):
        app.action(action)(listeners.click)
    app.action(KEEP_ACTION)(listeners.keep)
    if oauth is not None:
        app.enable_token_revocation_listeners()
    else:  # SLACK_BOT_TOKEN's workspace: the operator removes the token
        for name in REVOCATION_EVENTS:
            app.event(name)(_acknowledged)
    return app


async def _acknowledged(ack: AsyncAck) -> None:
    await ack()


@dataclass(frozen=True, slots=True)
class Connected:
    """The open connection: a Socket Mode handler, or the address HTTP mode listens on."""

    socket: AsyncSocketModeHandler | None = None
    address: tuple[str, int] | None = None


async def connect(
    app: AsyncApp, slack: SlackSettings, path: str, clock: Clock, stack: contextlib.AsyncExitStack
) -> Connected:
    """Connect ``app`` to Slack; ``stack`` closes the socket or the server."""
    if slack.app_token is not None:
        handler = AsyncSocketModeHandler(app, slack.app_token.get_secret_value())
        await handler.connect_async()  # type: ignore[no-untyped-call]
        stack.push_async_callback(handler.close_async)
        log.info("connected to Slack in Socket Mode")
        return Connected(socket=handler)
    assert slack.signing_secret is not None  # SlackBot.start checked
    secret = slack.signing_secret.get_secret_value()
    runner = events_runner(app, path, secret, clock)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, slack.http_host, slack.http_port)
    await site.start()
    host, port = runner.addresses[0][:2]
    log.info("serving Slack events on %s:%s%s", host, port, path)
    return Connected(address=(str(host), int(port)))
