"""Point the real discord.py at a fake: two class attributes, and how to undo it.

discord.py 2.x has no setting for its endpoints; they are class attributes:

- `discord.http.Route.BASE` (discord/http.py:310, read in `Route.__init__` at
  http.py:318 as `self.BASE + self.path`). Every REST call builds a Route, and
  so do the interaction callback and webhook follow-ups: discord/webhook/async_.py
  (and sync.py) import that same `Route` (async_.py:46) for
  `/interactions/{id}/{token}/callback` and `/webhooks/{app_id}/{token}/...`.
  One attribute therefore covers REST, interactions and follow-ups.
- `discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY` (discord/gateway.py:314).
  `Client.connect` never asks GET /gateway: `DiscordWebSocket.from_client` dials
  `gateway or cls.DEFAULT_GATEWAY` (gateway.py:383) with `?v=10&encoding=json&
  compress=zlib-stream`. After READY it resumes on READY's `resume_gateway_url`
  (gateway.py:578), which the fake points back at itself; INVALID_SESSION
  resets to DEFAULT_GATEWAY (gateway.py:567). AutoShardedClient asks
  GET /gateway/bot, which the fake answers with its own URL.

Attachment URLs need no patch: discord.py downloads `Attachment.url` as given
(`HTTPClient.get_from_cdn`), and the fake signs URLs on its own host.

Both attributes are process-global: every Client in the process talks to the
fake until `undo()` (or the end of the `with` block).
"""

from __future__ import annotations

from types import TracebackType

import yarl

from ._discord import discord
from .rest import API


class DiscordPyPointer:
    """The applied change; call it (or leave the `with` block) to restore discord.py."""

    def __init__(self, base_url: str) -> None:
        base = base_url.rstrip("/")
        self._saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        self.api_base = base + API
        self.gateway = yarl.URL(base.replace("http", "ws", 1) + "/gateway")
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self.gateway

    def undo(self) -> None:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved

    __call__ = undo

    def __enter__(self) -> DiscordPyPointer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.undo()


def point_discord_py_at(base_url: str) -> DiscordPyPointer:
    """Send discord.py's REST, interaction, webhook and gateway traffic to `base_url`.

        with point_discord_py_at(fake.base_url):
            await client.start(fake.token)
    or
        undo = point_discord_py_at("http://127.0.0.1:8082"); ...; undo()
    """
    return DiscordPyPointer(base_url)
