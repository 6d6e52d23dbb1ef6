"""The parts answering each Slack workspace the app is in, by team id.

``SLACK_BOT_TOKEN``'s workspace (the home one) is opened at start. A workspace
installed by OAuth (installs.py) gets its parts (team.py) on its first request,
with the token Bolt's authorize found, or from its stored install when its
answers or questions are owed after a restart. Installed again (a new token),
it gets new parts. All of them close with the stack they were opened on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from slack_bolt.context.async_context import AsyncBoltContext

from adapters.slack.installs import InstallRecords
from adapters.slack.team import Shared, Team, open_team
from adapters.slack.translate import BotIdentity

__all__ = ["Workspaces"]

log = logging.getLogger("adapters.slack.app")  # one log for the connection, as before


class Workspaces:
    """Each workspace's parts, opened once (under a lock) and closed by ``stack``."""

    def __init__(
        self, stack: contextlib.AsyncExitStack, shared: Shared, installs: InstallRecords | None
    ) -> None:
        self._stack = stack
        self.shared = shared
        self._installs = installs
        self._teams: dict[str, Team] = {}  # by team id
        self._lock = asyncio.Lock()
        self.home: Team | None = None  # SLACK_BOT_TOKEN's workspace

    def __iter__(self) -> Iterator[Team]:
        return iter(list(self._teams.values()))

    def clear(self) -> None:
        """Forget every workspace (their parts closed with the stack)."""
        self._teams.clear()
        self.home = None

    async def open_home(self, token: str, me: BotIdentity) -> Team:
        """Open ``SLACK_BOT_TOKEN``'s workspace."""
        home = await open_team(self._stack, self.shared, token, me)
        self.home = self._teams[home.me.team_id] = home
        return home

    async def installed(self, team_id: str) -> Team | None:
        """The parts answering an installed workspace, from its stored install."""
        team = self._teams.get(team_id)
        if team is not None or self._installs is None:
            return team
        record = await self._installs.find_installation(None, team_id)
        token = record.get("bot_token") if record is not None else None
        if record is None or not isinstance(token, str):
            return None
        async with self._lock:
            team = self._teams.get(team_id)
            if team is None:
                me = BotIdentity(
                    user_id=str(record.get("bot_user_id") or ""),
                    bot_id=str(record.get("bot_id") or ""),
                    team_id=team_id,
                )
                team = await open_team(self._stack, self.shared, token, me)
                self._teams[team_id] = team
        return team

    async def of_request(self, context: AsyncBoltContext) -> Team | None:
        """The parts answering the request's workspace, built on its first request
        with the token Bolt's authorize found (None: no token, nothing to answer with)."""
        team_id, token = context.team_id or "", context.bot_token
        team = self._teams.get(team_id)
        if team is not None and (token is None or team.token == token):
            return team
        if token is None:
            return self.home
        async with self._lock:
            team = self._teams.get(team_id)
            if team is None or team.token != token:  # new, or installed again
                me = BotIdentity(
                    user_id=context.bot_user_id or "", bot_id=context.bot_id or "", team_id=team_id
                )
                team = await open_team(self._stack, self.shared, token, me)
                self._teams[team_id] = team
                log.info("answering workspace %s", team_id)
            return team
