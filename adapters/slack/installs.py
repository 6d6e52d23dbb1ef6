"""Distributing the app: Bolt's OAuth flow, its installs kept by the core's store.

With ``SLACK_CLIENT_ID`` and ``SLACK_CLIENT_SECRET`` Bolt serves ``/slack/install``
and ``/slack/oauth_redirect`` (``AsyncOAuthFlow``) and authorizes each request with
its workspace's bot token (``AsyncInstallationStoreAuthorize``). Both need two
things a file on one worker's disk cannot be when several workers share the app:

- ``StoreInstallations``: slack_sdk's ``AsyncInstallationStore`` on the store's
  ``save_installation`` / ``find_installation`` / ``delete_installation`` (each
  install kept as its ``to_dict()``, times as Unix seconds). The adapter is handed
  an object with those three methods (``InstallRecords``), never the store itself.
- ``OnceStateStore``: the OAuth ``state`` signed with the client secret (any worker
  can check it; Bolt's default keeps it in a file on one worker's disk), and used
  once: its first sighting goes through the ``Coordination`` port, so a replayed
  callback fails on every worker.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import logging
import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.translate import BotIdentity
from bot.coordination import Coordination
from bot.ports import Installations
from bot.settings import SlackSettings

__all__ = [
    "InstallRecords",
    "OnceStateStore",
    "StoreInstallations",
    "home_install",
    "installation_of",
    "oauth_parts",
    "record_of",
    "secret_in_form",
]

log = logging.getLogger(__name__)

INSTALLATION_FIELDS = frozenset(inspect.signature(Installation.__init__).parameters) - {"self"}


InstallRecords = Installations  # the store's part that keeps Slack installs


def record_of(installation: Installation) -> dict[str, object]:
    """An install as JSON-compatible values (``to_dict`` gives datetimes)."""
    return {
        name: value.timestamp() if isinstance(value, datetime) else value
        for name, value in installation.to_dict().items()
    }


def installation_of(record: Mapping[str, object]) -> Installation:
    """The ``Installation`` a record was made from; unknown keys are its custom values."""
    known: dict[str, Any] = {k: v for k, v in record.items() if k in INSTALLATION_FIELDS}
    custom = {k: v for k, v in record.items() if k not in INSTALLATION_FIELDS}
    return Installation(**known, custom_values=custom or None)


class StoreInstallations(AsyncInstallationStore):
    """slack_sdk's installation store interface on the core's store."""

    def __init__(self, records: InstallRecords, home: Installation | None = None) -> None:
        self._records = records
        self._home = home  # SLACK_BOT_TOKEN's workspace, answered without an install

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await self._records.save_installation(record_of(installation))
        log.info("saved the install of workspace %s", installation.team_id)

    async def async_save_bot(self, bot: Bot) -> None:
        raise NotImplementedError("installs are saved whole (async_save)")

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        if is_enterprise_install:
            team_id = None  # an org-wide install is kept under its enterprise only
        record = await self._records.find_installation(enterprise_id, team_id, user_id)
        if record is not None:
            return installation_of(record)
        home = self._home
        if (
            home is not None
            and user_id is None
            and (enterprise_id, team_id)
            == (
                home.enterprise_id,
                home.team_id,
            )
        ):
            return home
        return None

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        found = await self.async_find_installation(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        return found.to_bot() if found is not None and found.bot_token else None

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await self._records.delete_installation(enterprise_id, team_id, user_id)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._records.delete_installation(enterprise_id, team_id)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._records.delete_installation(enterprise_id, team_id)


class OnceStateStore(AsyncOAuthStateStore):
    """A signed OAuth state any worker can check, good for one callback.

    ``nonce.expiry.signature`` (HMAC-SHA256 with the client secret). slack_sdk's
    ``StatelessOAuthStateStore`` signs the expiry alone, so two installs begun in
    the same second would share a state, and the second be refused as a replay."""

    def __init__(self, secret: str, seconds: float, coordination: Coordination) -> None:
        self._key = secret.encode()
        self._seconds = seconds
        self._coordination = coordination

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        payload = f"{secrets.token_urlsafe(16)}.{int(time.time() + self._seconds)}"
        return f"{payload}.{self._sign(payload)}"

    async def async_consume(self, state: str) -> bool:
        payload, _, signature = state.rpartition(".")
        nonce, _, expiry = payload.partition(".")
        if not hmac.compare_digest(self._sign(payload), signature):
            return False
        if not expiry.isdigit() or int(expiry) < time.time():
            return False
        return await self._coordination.first_sighting(f"slack:oauth:{nonce}", self._seconds)

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()


def secret_in_form(client: AsyncWebClient) -> AsyncWebClient:
    """Send the client id and secret of ``oauth.v2.access`` as form fields.

    slack_sdk sends them as aiohttp's ``BasicAuth``, deprecated since aiohttp 3.14
    (a DeprecationWarning on every install); Slack takes them either way
    (https://docs.slack.dev/reference/methods/oauth.v2.access)."""
    call = client.api_call

    async def api_call(api_method: str, **kwargs: Any) -> Any:
        auth = kwargs.pop("auth", None)
        data = kwargs.get("data")
        if auth is not None and (data is None or isinstance(data, dict)):
            kwargs["data"] = {**(data or {}), **auth}
        elif auth is not None:
            kwargs["auth"] = auth
        return await call(api_method, **kwargs)

    client.api_call = api_call  # type: ignore[method-assign]
    return client


def home_install(token: str, me: BotIdentity) -> Installation:
    """SLACK_BOT_TOKEN's workspace as an install, never saved (the token stays in the
    environment, where it is rotated)."""
    return Installation(
        team_id=me.team_id,
        bot_token=token,
        bot_id=me.bot_id,
        bot_user_id=me.user_id,
        user_id=me.user_id,
        installed_at=0.0,
    )


def oauth_parts(
    slack: SlackSettings,
    records: InstallRecords,
    coordination: Coordination,
    home: Installation | None = None,
) -> tuple[AsyncOAuthSettings, AsyncInstallationStoreAuthorize]:
    """Bolt's OAuth settings and the authorize that finds each workspace's token.

    The authorize caches each token's auth.test answer: Bolt would otherwise ask
    auth.test again on every event (a burst would meet its rate limit)."""
    assert slack.client_id is not None
    assert slack.client_secret is not None
    secret = slack.client_secret.get_secret_value()
    installations = StoreInstallations(records, home)
    settings = AsyncOAuthSettings(
        client_id=slack.client_id,
        client_secret=secret,
        scopes=slack.scopes,
        user_scopes=[],
        redirect_uri=slack.redirect_uri,
        install_page_rendering_enabled=False,  # /slack/install redirects to Slack at once
        installation_store=installations,
        state_store=OnceStateStore(secret, slack.install_link_seconds, coordination),
        state_expiration_seconds=round(slack.install_link_seconds),
        logger=logging.getLogger("slack_bolt"),
    )
    authorize = AsyncInstallationStoreAuthorize(
        logger=logging.getLogger("slack_bolt"),
        installation_store=installations,
        client_id=slack.client_id,
        client_secret=secret,
        cache_enabled=True,
    )
    return settings, authorize
