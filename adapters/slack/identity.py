"""Who the bot token belongs to (auth.test), and handing that answer to Bolt."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_bolt.middleware.authorization.async_single_team_authorization import (
    AsyncSingleTeamAuthorization,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack.failures import AUTH_CODES, translated
from adapters.slack.translate import BotIdentity
from bot.errors import ConfigError, PlatformError

__all__ = ["auth_test", "identity", "share_auth_test"]


async def auth_test(client: AsyncWebClient) -> AsyncSlackResponse:
    """Who the token belongs to; a refused token stops start-up."""
    try:
        with translated(""):
            return await client.auth_test()
    except PlatformError as error:
        if error.code in AUTH_CODES:
            raise ConfigError(error.user_message) from None
        raise


def identity(auth_test: AsyncSlackResponse) -> BotIdentity:
    return BotIdentity(
        user_id=str(auth_test.get("user_id", "")),
        bot_id=str(auth_test.get("bot_id", "")),
        team_id=str(auth_test.get("team_id", "")),
    )


def share_auth_test(app: AsyncApp, auth_test: AsyncSlackResponse) -> None:
    """Give Bolt the auth.test answer threadline got at start.

    Bolt's single-workspace authorization asks auth.test itself on every event
    until its first answer is cached: a burst of events right after start meets
    auth.test's rate limit, and Bolt drops those events unanswered. Bolt has no
    public way to pass the answer in, so this sets it on its middleware
    (tests/slack/test_events.py fails if that stops working).
    """
    for middleware in getattr(app, "_async_middleware_list", ()):
        if isinstance(middleware, AsyncSingleTeamAuthorization):
            middleware.auth_test_result = auth_test
