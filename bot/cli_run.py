"""``threadline run``: connect every configured platform and answer there until a signal.

Each platform is started the same way (enter its lifetime, then serve), hands in a
``drain`` (finish the answers in flight) and a ``take_over`` (answer what a dead
worker left), and is watched by /healthz. Platform libraries are imported only
here, and only when that platform is configured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from bot import wording
from bot.app import Core, configured_platforms, open_core
from bot.coordination import Coordination
from bot.domain import StoredTurn
from bot.errors import ConfigError
from bot.health import OpsServer
from bot.settings import Settings
from bot.workers import Takeover

__all__ = ["cmd_run", "run_platforms"]

EXIT_OK = 0

Drain = Callable[[float], Awaitable[None]]
Taker = Callable[[Sequence[StoredTurn]], None]


@dataclass
class Platforms:
    """What ``run`` keeps of each started platform."""

    drains: list[Drain] = field(default_factory=list)  # "finish what you are doing"
    takers: dict[str, Taker] = field(default_factory=dict)  # a dead worker's questions
    watched: list[asyncio.Task[object]] = field(default_factory=list)  # ends ``run``


def run_platforms(settings: Settings, wanted: Sequence[str] | None) -> list[str]:
    """The platforms to answer on: the configured ones, or those of ``--platform``."""
    platforms = configured_platforms(settings)
    if not platforms:
        raise ConfigError(wording.no_platform_configured())
    if wanted:
        missing = [name for name in wanted if name not in platforms]
        if missing:
            raise ConfigError(wording.platform_not_configured(missing[0]))
        platforms = [name for name in platforms if name in wanted]
    return platforms


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    platforms = run_platforms(settings, args.platform)
    async with (
        open_core(settings, shared=True, platforms=platforms) as core,
        contextlib.AsyncExitStack() as running,
    ):
        started = Platforms(watched=[_on_signal(running)])
        ops = await running.enter_async_context(_ops_server(core))  # /healthz, /metrics
        # Questions the last stop (or a dead worker) left waiting: each platform answers
        # its own once it has finished the answers that stop cut (``core.interrupted``).
        if "discord" in platforms:
            started.watched.append(await _start_discord(core, running, ops, started))
        if "slack" in platforms:
            await _start_slack(core, running, ops, started)
        keeping = asyncio.create_task(
            core.workers.keep(_handing(started.takers)), name="worker-lease"
        )
        running.push_async_callback(_cancelled, keeping)
        # Unwound first: answers in flight finish before the platforms close.
        grace = settings.limits.shutdown_grace_seconds
        running.push_async_callback(_drain, started.drains, grace)
        print(wording.running_on(platforms), file=sys.stderr)
        await _first_to_end(started.watched)
    return EXIT_OK


def _on_signal(running: contextlib.AsyncExitStack[bool | None]) -> asyncio.Task[object]:
    """A task that ends at SIGINT or SIGTERM."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
        running.callback(loop.remove_signal_handler, signum)
    return asyncio.create_task(stopping.wait(), name="stop-signal")


async def _first_to_end(watched: list[asyncio.Task[object]]) -> None:
    """Wait for a signal or a platform to end; a platform's failure is raised (e.g.
    Discord refused the token: a ConfigError sentence)."""
    done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    for task in watched:
        task.cancel()
    for task in done:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error


def _questions(core: Core, platform: str) -> list[StoredTurn]:
    return [q for q in core.unanswered if q.key.platform == platform]


async def _start_discord(
    core: Core,
    running: contextlib.AsyncExitStack[bool | None],
    ops: OpsServer,
    started: Platforms,
) -> asyncio.Task[object]:
    from adapters.discord.client import DiscordBot

    token = core.settings.discord.token
    assert token is not None
    bot = DiscordBot(
        core.settings,
        service=core.service,
        conversations=core.conversations,
        catalog=core.catalog,
        unanswered=_questions(core, "discord"),
        shared=_shared(core),
    )
    await running.enter_async_context(bot)
    started.drains.append(bot.drain)
    started.takers["discord"] = bot.take_over
    ops.watch(
        "discord",
        connected=lambda: bot.is_ready() and not bot.is_closed(),
        rate_limited=lambda: bot.buttons.scheduler.stats.rate_limited if bot.buttons else None,
    )
    return asyncio.create_task(bot.start(token.get_secret_value()), name="discord")


async def _start_slack(
    core: Core,
    running: contextlib.AsyncExitStack[bool | None],
    ops: OpsServer,
    started: Platforms,
) -> None:
    from adapters.slack.app import SlackBot

    slack = SlackBot(
        core.settings,
        service=core.service,
        conversations=core.conversations,
        catalog=core.catalog,
        unanswered=_questions(core, "slack"),
        coordination=core.coordination,
        installs=core.store,  # OAuth installs, when SLACK_CLIENT_ID is set
        budgets=_shared(core),
    )
    await slack.start()
    running.push_async_callback(slack.stop)
    started.takers["slack"] = slack.take_over
    started.drains.append(slack.drain)
    ops.watch("slack", connected=lambda: slack.connected, rate_limited=lambda: slack.rate_limited)


def _shared(core: Core) -> Coordination | None:
    """The coordination several workers share (``REDIS_URL``), for the platform budgets;
    None for one process, whose own windows already hold them."""
    return core.coordination if core.settings.redis_url is not None else None


def _handing(takers: dict[str, Taker]) -> Callable[[Takeover], Awaitable[None]]:
    """Hand what a sweep took over to each platform's recovery (bot/workers.py)."""

    async def recover(found: Takeover) -> None:
        for platform, take in takers.items():
            take([q for q in found.questions if q.key.platform == platform])

    return recover


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _drain(drains: list[Drain], seconds: float) -> None:
    """Shutting down: every platform stops taking messages, and the answers in flight
    get ``seconds`` (LIMITS__SHUTDOWN_GRACE_SECONDS) to finish; closing stops the rest."""
    await asyncio.gather(*(drain(seconds) for drain in drains))


def _ops_server(core: Core) -> OpsServer:
    return OpsServer(
        core.settings.ops,
        metrics=core.metrics,
        database=lambda: core.store.get_turn(0),  # one indexed read: is the file there?
        upstream_url=core.settings.upstream.base_url,
    )
