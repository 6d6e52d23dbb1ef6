"""People's display names, looked up once (``users.info``, Tier 4) and cached,
and whether someone is a workspace admin or owner (asked afresh each time).

Names only matter when several people share a thread (the model reads
"Name: text"), so a failed look-up falls back to the user id. A failed admin
look-up answers "no": a setting is not changed on a guess.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.failures import translated
from adapters.slack.translate import user_display_name
from bot.errors import ThreadlineError

__all__ = ["UserNames"]

log = logging.getLogger(__name__)


class UserNames:
    def __init__(self, client: AsyncWebClient, capacity: int = 1_024) -> None:
        self._client = client
        self._capacity = capacity
        self._names: OrderedDict[str, str] = OrderedDict()

    async def name(self, user_id: str) -> str:
        cached = self._names.get(user_id)
        if cached is not None:
            self._names.move_to_end(user_id)
            return cached
        try:
            with translated(""):
                response = await self._client.users_info(user=user_id)
            user = response.get("user")
            name = user_display_name(user) if isinstance(user, dict) else user_id
        except ThreadlineError as error:
            log.info("no name for %s: %s", user_id, error.user_message)
            return user_id
        self._names[user_id] = name
        if len(self._names) > self._capacity:
            self._names.popitem(last=False)
        return name

    async def is_admin(self, user_id: str) -> bool:
        """A workspace admin or owner (users.info ``is_admin`` / ``is_owner``,
        https://docs.slack.dev/reference/methods/users.info). Not cached: a role can be
        taken away, and settings commands are rare."""
        try:
            with translated(""):
                response = await self._client.users_info(user=user_id)
        except ThreadlineError as error:
            log.info("could not tell whether %s is an admin: %s", user_id, error.user_message)
            return False
        user = response.get("user")
        if not isinstance(user, dict):
            return False
        return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
