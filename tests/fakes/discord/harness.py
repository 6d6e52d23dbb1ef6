"""Run a real discord.py client against the fake for the length of a block.

discord.py dispatches `on_ready` only after no GUILD_CREATE has arrived for
`guild_ready_timeout` seconds (discord/state.py `_delay_ready`, default 2.0);
build test clients with `guild_ready_timeout=0.05` (see `client_options`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from ._discord import discord
from .server import FakeDiscord

ClientT = TypeVar("ClientT", bound=discord.Client)


def client_options(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for a fast test client: all non-privileged intents plus
    message content, and a short ready delay."""
    intents = discord.Intents.default()
    intents.message_content = True
    return {"intents": intents, "guild_ready_timeout": 0.05} | overrides


@contextlib.asynccontextmanager
async def run_client(
    client: ClientT, fake: FakeDiscord, timeout: float = 10.0
) -> AsyncIterator[ClientT]:
    """Start `client` (login + gateway), wait for on_ready, close it on exit."""
    async with client:  # binds the client to this loop (Client.__aenter__)
        task = asyncio.create_task(client.start(fake.token), name="discord-client")
        ready = asyncio.create_task(client.wait_until_ready())
        try:
            done, _ = await asyncio.wait(
                {task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if task in done:
                task.result()  # raises what start() raised
                raise RuntimeError("discord.py client stopped before it was ready")
            if ready not in done:
                raise TimeoutError(f"discord.py client not ready within {timeout} s")
            yield client
        finally:
            ready.cancel()
            await client.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout)
