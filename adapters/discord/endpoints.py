"""Point discord.py at other Discord endpoints (``DISCORD__API_BASE``, ``DISCORD__GATEWAY_URL``).

discord.py has no setting for its endpoints; they are class attributes, read
at request time (the same two tests/fakes/discord/pointing.py changes):

- ``discord.http.Route.BASE`` (discord/http.py ``Route.__init__`` builds every
  URL as ``self.BASE + self.path``); the interaction callback and webhook
  follow-ups use the same ``Route`` (discord/webhook/async_.py), so one
  attribute covers REST, interactions and follow-ups;
- ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``: ``Client.connect`` dials
  it (discord/gateway.py ``DiscordWebSocket.from_client``) and resumes on the
  URL READY names.

Both are process-wide, so they are set when the bot logs in and restored when it closes.
"""

from __future__ import annotations

import discord.gateway
import discord.http
import yarl


class Endpoints:
    def __init__(self, api_base: str | None, gateway_url: str | None) -> None:
        self._api_base = api_base.rstrip("/") if api_base else None
        self._gateway = yarl.URL(gateway_url) if gateway_url else None
        self._saved: tuple[str, yarl.URL] | None = None

    def apply(self) -> None:
        if self._saved is not None or (self._api_base is None and self._gateway is None):
            return
        self._saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        if self._api_base is not None:
            discord.http.Route.BASE = self._api_base
        if self._gateway is not None:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._gateway

    def restore(self) -> None:
        if self._saved is not None:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved
            self._saved = None
