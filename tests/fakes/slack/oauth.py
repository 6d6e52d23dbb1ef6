"""``oauth.v2.access``: a workspace installing the app (OAuth v2, bot scopes).

There is no authorize page: a test takes the URL ``/slack/install`` redirects to,
asks ``SlackFake.oauth.grant`` for the code Slack would append to the Redirect URL
after a person approved (a new team, with a bot user of its own), and calls the
redirect route with it. The exchange checks the client id and secret (HTTP Basic,
as slack_sdk sends them, or form fields), spends each code once, and issues a bot
token that speaks as that team's bot (``Workspace.bot_for``) and spends that team's
rate tiers (https://docs.slack.dev/reference/methods/oauth.v2.access).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from .state import Json, User, Workspace
from .web_api import ApiCall, ApiError, Handler, WebApi

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "Grant", "OAuthMethods"]

CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "fake-client-secret-0123456789abcdef"


@dataclass(frozen=True, slots=True)
class Grant:
    """One approved install, waiting for its code to be exchanged."""

    team_id: str
    team_name: str
    installer: str
    scopes: tuple[str, ...]


class OAuthMethods:
    def __init__(self, ws: Workspace, web_api: WebApi) -> None:
        self._ws = ws
        self._web_api = web_api
        self._grants: dict[str, Grant] = {}
        self.tokens: dict[str, str] = {}  # team id -> the bot token its install got

    def routes(self) -> dict[str, Handler]:
        return {"oauth.v2.access": self.access}

    def grant(
        self,
        team_id: str,
        *,
        team_name: str = "Second Team",
        installer: str = "U0CAROL001",
        scopes: tuple[str, ...] = ("app_mentions:read", "chat:write"),
    ) -> str:
        """The ``code`` Slack redirects with once ``installer`` approved the install."""
        code = f"{team_id}.{uuid.uuid4().hex}"
        self._grants[code] = Grant(team_id, team_name, installer, scopes)
        return code

    async def access(self, call: ApiCall) -> Json:
        if call.text("client_id") != CLIENT_ID:
            raise ApiError("invalid_client_id")
        if call.text("client_secret") != CLIENT_SECRET:
            raise ApiError("bad_client_secret")
        grant = self._grants.pop(call.text("code"), None)
        if grant is None:
            raise ApiError("invalid_code")
        suffix = grant.team_id[-4:]
        bot = User(
            f"U0BOT{suffix}", "threadline", "Threadline", is_bot=True, bot_id=f"B0BOT{suffix}"
        )
        token = f"xoxb-{grant.team_id}-{uuid.uuid4().hex}"
        self._ws.users[bot.id] = bot
        self._ws.installs[token] = (grant.team_id, bot)
        self._web_api.bot_tokens[token] = grant.team_id
        self.tokens[grant.team_id] = token
        return {
            "access_token": token,
            "token_type": "bot",
            "scope": ",".join(grant.scopes),
            "bot_user_id": bot.id,
            "app_id": self._ws.app_id,
            "team": {"id": grant.team_id, "name": grant.team_name},
            "enterprise": None,
            "authed_user": {"id": grant.installer},
            "is_enterprise_install": False,
        }
