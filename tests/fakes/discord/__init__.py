"""A loopback Discord for tests: real gateway and REST protocols on 127.0.0.1.

The real discord.py connects to it, receives events and makes REST calls, and
the fake answers like Discord, limits included (limits.py, edge.py).

Start it and point discord.py at it::

    from tests.fakes.discord import FakeDiscord, point_discord_py_at
    from tests.fakes.discord.harness import client_options, run_client

    async with FakeDiscord() as fake:
        with point_discord_py_at(fake.base_url):
            client = discord.Client(**client_options())
            async with run_client(client, fake):
                message_id = await fake.dispatch_message(content="hi", mentions_bot=True)
                reply = await fake.wait_for_message(predicate=lambda m: m.author.bot)

What `point_discord_py_at(base_url)` changes, and why (details in pointing.py):

- `discord.http.Route.BASE` → `{base_url}/api/v10`. discord.py builds every REST
  URL as `Route.BASE + path` (discord/http.py:310, :318); the interaction
  callback and webhook follow-ups use the same `Route` (discord/webhook/async_.py:46).
- `discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY` → `ws://host:port/gateway`.
  A plain Client never asks GET /gateway; it dials DEFAULT_GATEWAY
  (discord/gateway.py:314, :383) and later READY's `resume_gateway_url`, which the
  fake sets to `ws://host:port/gateway/resume`.
Both are class attributes, so the change is process-wide until undone.

Run by hand: `python -m tests.fakes.discord --port 8082`; drive it from another
process through the control API (control.py). Pytest fixtures: fixtures.py.

Modules: config (knobs), limits (Discord's limits and error bodies), model
(records), state (the world and change events), payloads (records → JSON),
gateway (websocket), edge (auth, rate limits, request log), rest, messages,
interactions (REST routes), cdn (signed attachment URLs), control (HTTP control
API), shards (which session gets a guild's events, IDENTIFY pacing), server
(`FakeDiscord`), pointing, harness, fixtures.
"""

from .config import ChannelSpec, FakeConfig, GuildSpec
from .model import Button, FakeFile, Interaction, Message, User
from .pointing import point_discord_py_at
from .server import FakeDiscord
from .state import RequestRecord, Stats

__all__ = [
    "Button",
    "ChannelSpec",
    "FakeConfig",
    "FakeDiscord",
    "FakeFile",
    "GuildSpec",
    "Interaction",
    "Message",
    "RequestRecord",
    "Stats",
    "User",
    "point_discord_py_at",
]
