"""``threadline run | chat | ask | threads | history | check`` — the only place that wires things.

Exit status: 0 success, 2 bad input or configuration (a bad setting, a missing
--env-file, an unreadable --image, an unknown --thread), 3 an upstream error
(its sentence, with the trace id, on stderr). A failed command prints one
sentence on stderr and nothing else: the terminal commands log only what
LOGGING__LEVEL asks for when it is set, warnings and errors otherwise are the
sentence itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.metadata
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from adapters.console import ConsoleSink, chat_loop, console_incoming, console_key
from adapters.console.flags import param_flags, params_from
from bot import logs, wording
from bot.allowance import Allowance
from bot.check import check
from bot.cli_threads import cmd_history, cmd_threads
from bot.coordination import Coordination, InProcessCoordination
from bot.domain import Attachment, Params, StoredTurn
from bot.errors import ConfigError, InputError, ThreadlineError, UpstreamError
from bot.fetch import Fetcher
from bot.files import sniff_image
from bot.health import OpsServer
from bot.image_flow import ImageFlow
from bot.metrics import Metrics
from bot.models import ModelCatalog
from bot.redact import configured_secrets
from bot.service import Outcome, ReplyService
from bot.settings import QuotaSettings, Settings, StorageSettings, load_settings
from bot.upstream import UpstreamClient
from bot.workers import Takeover, Workers, new_worker_id
from storage import ImageStore, SqliteStore
from storage.postgres import PostgresStore
from storage.probe import storage_problem

EXIT_OK, EXIT_INPUT, EXIT_UPSTREAM = 0, 2, 3
RESUME_TURNS = 6  # turns shown when `chat` resumes a thread


@dataclass
class Core:
    settings: Settings
    store: SqliteStore | PostgresStore
    client: UpstreamClient
    catalog: ModelCatalog
    service: ReplyService
    metrics: Metrics
    coordination: Coordination
    workers: Workers
    # Answers a crash left half-written (now ``interrupted``): ``run`` finishes them.
    interrupted: list[StoredTurn] = field(default_factory=list)
    # Questions dead workers left waiting (``run`` only): the platforms answer them.
    unanswered: list[StoredTurn] = field(default_factory=list)


async def open_store(storage: StorageSettings, *, worker: str = "") -> SqliteStore | PostgresStore:
    """The configured store: PostgreSQL when STORAGE__URL names one, else the SQLite file.
    ``worker`` is recorded on every turn the store adds (bot/workers.py)."""
    url = storage.postgres_url
    if url is not None:
        return await PostgresStore.open(url, worker=worker)
    return await SqliteStore.open(
        storage.sqlite_path, busy_timeout_ms=storage.busy_timeout_ms, worker=worker
    )


@contextlib.asynccontextmanager
async def open_core(
    settings: Settings, *, shared: bool = False, platforms: list[str] | None = None
) -> AsyncIterator[Core]:
    """Open the database and the upstream client, and build the reply service.

    ``shared``: the service answers other people (``run``), so the cost and abuse
    controls apply; the console commands are the operator's own and run without.
    """
    async with (
        await open_store(settings.storage, worker=new_worker_id()) as store,
        await _coordination(settings, shared=shared) as coordination,
        UpstreamClient(settings.upstream) as client,
        Fetcher(settings.images) as fetcher,
    ):
        catalog = ModelCatalog(settings.upstream)
        images = settings.images
        # Image bytes: content-addressed files next to the database (storage/images.py).
        folder = images.store_dir or settings.storage.sqlite_path.with_name(
            settings.storage.sqlite_path.name + ".images"
        )
        blobs = ImageStore(folder, max_bytes=images.store_max_bytes)
        metrics = Metrics()
        service = ReplyService(
            store=store,
            client=client,
            catalog=catalog,
            limits=settings.limits,
            upstream=settings.upstream,
            flush_interval=settings.storage.flush_interval,
            images=ImageFlow(images, blobs=blobs, fetcher=fetcher),
            metrics=metrics,
            allowance=Allowance(
                store,
                settings.quota if shared else QuotaSettings.off(),
                coordination=coordination,
            ),
            coordination=coordination,
        )
        client.rate_limited.append(service.slots.throttled)  # the upstream's 429s
        workers = Workers(
            store,
            coordination,
            lease=settings.limits.worker_lease_seconds,
            reask_within=settings.limits.reask_within_seconds,
            platforms=(platforms or _configured_platforms(settings)) if shared else ["console"],
            sweeps=shared and settings.redis_url is not None,
        )
        await workers.renew()
        # Only dead workers' turns: a live worker sharing the database keeps its own.
        # Console commands leave the questions to ``run`` (they answer no platform).
        found = await workers.take_over(adopt_questions=shared)
        yield Core(
            settings,
            store,
            client,
            catalog,
            service,
            metrics,
            coordination,
            workers,
            found.interrupted,
            found.questions,
        )


async def _coordination(
    settings: Settings, *, shared: bool
) -> contextlib.AbstractAsyncContextManager[Coordination]:
    """What several workers agree on: the Redis server at ``REDIS_URL`` for ``run`` when it
    is set (one that cannot be reached stops start-up with a sentence), else this process."""
    if shared and settings.redis_url is not None:
        from storage.redis import RedisCoordination

        return await RedisCoordination.connect(settings.redis_url.get_secret_value())
    return _closing(InProcessCoordination())


@contextlib.asynccontextmanager
async def _closing(coordination: Coordination) -> AsyncIterator[Coordination]:
    try:
        yield coordination
    finally:
        await coordination.close()


# -- commands ------------------------------------------------------------------------


async def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    attachments = tuple(_read_image(Path(p)) for p in args.image or ())
    params = params_from(args)
    async with open_core(settings) as core:
        model = core.catalog.image_model if args.image_model else args.model
        _check_params(core, params, model)
        incoming = console_incoming(
            args.thread or f"ask-{time.time_ns()}",
            " ".join(args.question),
            model=model,
            system_prompt=args.system,
            attachments=attachments,
            params=params,
        )
        sink = ConsoleSink(image_dir=settings.images.output_dir)
        result = await core.service.handle(incoming, sink)
    failed = result.outcome in (Outcome.FAILED, Outcome.REFUSED)
    return EXIT_UPSTREAM if failed else EXIT_OK


async def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    key = console_key(args.thread)
    params = params_from(args)
    async with open_core(settings) as core:
        _check_params(core, params, args.model)
        chosen = await core.store.settings(key)
        if args.model:  # the thread keeps the model it was started with
            chosen = dataclasses.replace(chosen, model=args.model)
            await core.store.save_settings(key, chosen)
        window = await core.store.history(key, token_budget=10**9, max_turns=RESUME_TURNS)
        await chat_loop(
            core.service,
            args.thread,
            model=chosen.model or core.catalog.default_model,
            recent=[(t.role.value, t.text) for t in window.turns],
            image_dir=settings.images.output_dir,
            params=params,
        )
    return EXIT_OK


def _check_params(core: Core, params: Params, model: str | None) -> None:
    """A value out of range is bad input (exit 2), said before anything is asked."""
    refused = core.service.params.refusal(params, model)
    if refused is not None:
        raise InputError(refused)


async def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    from storage.redis import redis_probe

    return await check(
        settings,
        model=args.model,
        database=storage_problem,
        redis=redis_probe,
        out=sys.stdout,
        err=sys.stderr,
    )


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    platforms = _configured_platforms(settings)
    if not platforms:
        print(wording.no_platform_configured(), file=sys.stderr)
        return EXIT_INPUT
    if args.platform:
        missing = [name for name in args.platform if name not in platforms]
        if missing:
            print(wording.platform_not_configured(missing[0]), file=sys.stderr)
            return EXIT_INPUT
        platforms = [name for name in platforms if name in args.platform]
    async with (
        open_core(settings, shared=True, platforms=platforms) as core,
        contextlib.AsyncExitStack() as running,
    ):
        # Questions the last stop (or a dead worker) left waiting: each platform answers
        # its own once it has finished the answers that stop cut (``core.interrupted``).
        unanswered = core.unanswered
        takers: dict[str, Callable[[Sequence[StoredTurn]], None]] = {}
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
            running.callback(loop.remove_signal_handler, signum)
        ops = await running.enter_async_context(_ops_server(core))  # /healthz, /metrics
        drains: list[Drain] = []  # each platform's "finish what you are doing"
        watched: list[asyncio.Task[object]] = [
            asyncio.create_task(stopping.wait(), name="stop-signal")
        ]
        # Platform libraries are imported only here, when they are configured.
        if "discord" in platforms:
            questions = [q for q in unanswered if q.key.platform == "discord"]
            watched.append(await _start_discord(core, questions, running, ops, drains, takers))
        if "slack" in platforms:
            from adapters.slack.app import SlackBot

            slack = SlackBot(
                settings,
                service=core.service,
                store=core.store,
                catalog=core.catalog,
                unanswered=[q for q in unanswered if q.key.platform == "slack"],
                coordination=core.coordination,
                installs=core.store,  # OAuth installs, when SLACK_CLIENT_ID is set
                budgets=_shared(core),
            )
            await slack.start()
            running.push_async_callback(slack.stop)
            takers["slack"] = slack.take_over
            drains.append(slack.drain)
            ops.watch(
                "slack", connected=lambda: slack.connected, rate_limited=lambda: slack.rate_limited
            )
        keeping = asyncio.create_task(core.workers.keep(_handing(takers)), name="worker-lease")
        running.push_async_callback(_cancelled, keeping)
        # Unwound first: answers in flight finish before the platforms close.
        running.push_async_callback(_drain, drains, settings.limits.shutdown_grace_seconds)
        print(wording.running_on(platforms), file=sys.stderr)
        done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        for task in watched:
            task.cancel()
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error  # e.g. Discord refused the token: a ConfigError sentence
    return EXIT_OK


async def _start_discord(
    core: Core,
    unanswered: list[StoredTurn],
    running: contextlib.AsyncExitStack[bool | None],
    ops: OpsServer,
    drains: list[Drain],
    takers: dict[str, Callable[[Sequence[StoredTurn]], None]],
) -> asyncio.Task[object]:
    from adapters.discord.client import DiscordBot

    token = core.settings.discord.token
    assert token is not None
    bot = DiscordBot(
        core.settings,
        service=core.service,
        store=core.store,
        catalog=core.catalog,
        unanswered=unanswered,
        shared=_shared(core),
    )
    await running.enter_async_context(bot)
    drains.append(bot.drain)
    takers["discord"] = bot.take_over
    ops.watch(
        "discord",
        connected=lambda: bot.is_ready() and not bot.is_closed(),
        rate_limited=lambda: bot.buttons.scheduler.stats.rate_limited if bot.buttons else None,
    )
    started: asyncio.Task[object] = asyncio.create_task(
        bot.start(token.get_secret_value()), name="discord"
    )
    return started


# -- plumbing ------------------------------------------------------------------------


def _shared(core: Core) -> Coordination | None:
    """The coordination several workers share (``REDIS_URL``), for the platform budgets;
    None for one process, whose own windows already hold them."""
    return core.coordination if core.settings.redis_url is not None else None


def _handing(
    takers: dict[str, Callable[[Sequence[StoredTurn]], None]],
) -> Callable[[Takeover], Awaitable[None]]:
    """Hand what a sweep took over to each platform's recovery (bot/workers.py)."""

    async def recover(found: Takeover) -> None:
        for platform, take in takers.items():
            take([q for q in found.questions if q.key.platform == platform])

    return recover


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


Drain = Callable[[float], Awaitable[None]]


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


def _configured_platforms(settings: Settings) -> list[str]:
    """Platforms whose credentials are set (Slack also needs a connection mode)."""
    platforms = []
    if settings.discord.token is not None:
        platforms.append("discord")
    slack = settings.slack
    if slack.bot_token is not None or (slack.client_id and slack.client_secret):
        platforms.append("slack")  # one workspace's token, or installs by OAuth
    return platforms


def _read_image(path: Path) -> Attachment:
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
    mime |= {".webp": "image/webp", ".gif": "image/gif"}
    kind = mime.get(path.suffix.lower())
    if kind is None:
        raise InputError(wording.unsupported_image(path.name))
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(wording.unreadable_file(path.name, error.strerror or "")) from None
    real = sniff_image(data)  # the bytes decide, not the name: bad input is exit 2
    if real is None:
        raise InputError(wording.unsupported_image(path.name))
    return Attachment(path.name, real, data, None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="threadline", description="An LLM in your Discord and Slack threads."
    )
    parser.add_argument("--version", action="version", version=f"threadline {_version()}")
    parser.add_argument("--env-file", help="settings file (default: .env, if it exists)")
    # The same option after the command; SUPPRESS keeps one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env-file", default=argparse.SUPPRESS, help="settings file")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], help=summary, description=summary)

    run = command("run", "Connect every platform whose credentials are set and answer there.")
    run.add_argument(
        "--platform",
        action="append",
        choices=("discord", "slack"),
        help="answer only here (repeatable): one worker per platform in a larger deployment",
    )
    chat = command("chat", "Talk to the model from this terminal (/help lists the commands).")
    chat.add_argument("--thread", default="default", help="resume or start this thread")
    chat.add_argument("--model", help="the model for this thread (it keeps it)")
    param_flags(chat)
    ask = command("ask", "Ask one question; the answer streams to stdout.")
    ask.add_argument("question", nargs="+")
    ask.add_argument("--thread", help="continue this thread (default: a new one)")
    ask.add_argument("--model")
    ask.add_argument("--system", help="system prompt for this answer")
    ask.add_argument("--image", action="append", help="attach a local image (repeatable)")
    ask.add_argument(
        "--image-model",
        action="store_true",
        help="answer with the image model (UPSTREAM__IMAGE_MODEL); made images are saved",
    )
    param_flags(ask)
    threads = command("threads", "List the stored conversations, the most recent first.")
    threads.add_argument("--json", action="store_true")
    history = command("history", "Print one stored conversation, failed answers included.")
    history.add_argument("--thread", required=True, help="a name from `threadline threads`")
    history.add_argument("--json", action="store_true")
    check_ = command(
        "check", "Check the settings, the database, the platform tokens and the upstream."
    )
    check_.add_argument("--model")
    return parser


COMMANDS = {
    "run": cmd_run,
    "chat": cmd_chat,
    "ask": cmd_ask,
    "threads": cmd_threads,
    "history": cmd_history,
    "check": cmd_check,
}
# The terminal's own commands tell a failure in one sentence: no log line repeats it
# unless LOGGING__LEVEL asks for logs (``run`` logs as configured).
TERMINAL = {"chat", "ask", "threads", "history", "check"}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(env_file=_env_file(args.env_file))
        secrets = [s.get_secret_value() for s in configured_secrets(settings)]
        logs.configure(settings.logging, secrets)
        if args.command in TERMINAL and "level" not in settings.logging.model_fields_set:
            logging.getLogger().setLevel(logging.CRITICAL)  # the sentence says it all
        return asyncio.run(COMMANDS[args.command](settings, args))
    except UpstreamError as error:
        print(error.user_message, file=sys.stderr)
        return EXIT_UPSTREAM
    except ThreadlineError as error:  # ConfigError, InputError and the rest
        if args.command == "check" and isinstance(error, ConfigError):
            print("configuration: not ok")
        print(error.user_message, file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130


def _env_file(named: str | None) -> str:
    """``.env`` when it exists; a file named with --env-file must exist."""
    if named is None:
        return ".env"
    if not Path(named).is_file():
        raise ConfigError(wording.env_file_missing(named))
    return named


def _version() -> str:
    try:
        return importlib.metadata.version("threadline")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout (python -m bot)
        return "0+unknown"


if __name__ == "__main__":
    sys.exit(main())
