"""``threadline run | chat | ask | history | check`` — the only place that wires things.

Exit status: 0 success, 2 bad input or configuration, 3 an upstream error (its
sentence, with the trace id, on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import SecretStr

from adapters.console import ConsoleSink, chat_loop, console_incoming, console_key
from bot import logs, wording
from bot.allowance import Allowance
from bot.domain import Attachment, StoredTurn, ThreadKey
from bot.errors import ConfigError, InputError, ThreadlineError, UpstreamError
from bot.fetch import Fetcher
from bot.health import OpsServer
from bot.image_flow import ImageFlow
from bot.metrics import Metrics
from bot.models import ModelCatalog
from bot.service import Outcome, ReplyService
from bot.settings import QuotaSettings, Settings, load_settings
from bot.upstream import ChatRequest, UpstreamClient
from storage import ImageStore, SqliteStore

EXIT_OK, EXIT_INPUT, EXIT_UPSTREAM = 0, 2, 3


@dataclass
class Core:
    settings: Settings
    store: SqliteStore
    client: UpstreamClient
    catalog: ModelCatalog
    service: ReplyService
    metrics: Metrics
    # Answers a crash left half-written (now ``interrupted``): ``run`` finishes them.
    interrupted: list[StoredTurn] = field(default_factory=list)


@contextlib.asynccontextmanager
async def open_core(settings: Settings, *, shared: bool = False) -> AsyncIterator[Core]:
    """Open the database and the upstream client, and build the reply service.

    ``shared``: the service answers other people (``run``), so the cost and abuse
    controls apply; the console commands are the operator's own and run without.
    """
    async with (
        await SqliteStore.open(
            settings.storage.path, busy_timeout_ms=settings.storage.busy_timeout_ms
        ) as store,
        UpstreamClient(settings.upstream) as client,
        Fetcher(settings.images) as fetcher,
    ):
        catalog = ModelCatalog(settings.upstream)
        images = settings.images
        # Image bytes: content-addressed files next to the database (storage/images.py).
        folder = images.store_dir or settings.storage.path.with_name(
            settings.storage.path.name + ".images"
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
            allowance=Allowance(store, settings.quota if shared else QuotaSettings.off()),
        )
        client.rate_limited.append(service.slots.throttled)  # the upstream's 429s
        interrupted = await store.interrupt_streaming()  # what ReplyService.recover does
        yield Core(settings, store, client, catalog, service, metrics, interrupted)


# -- commands ------------------------------------------------------------------------


async def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    attachments = tuple(_read_image(Path(p)) for p in args.image or ())
    async with open_core(settings) as core:
        incoming = console_incoming(
            args.thread or f"ask-{time.time_ns()}",
            " ".join(args.question),
            model=core.catalog.image_model if args.image_model else args.model,
            system_prompt=args.system,
            attachments=attachments,
        )
        sink = ConsoleSink(image_dir=settings.images.output_dir)
        result = await core.service.handle(incoming, sink)
    failed = result.outcome in (Outcome.FAILED, Outcome.REFUSED)
    return EXIT_UPSTREAM if failed else EXIT_OK


async def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    async with open_core(settings) as core:
        await chat_loop(
            core.service, args.thread, model=args.model, image_dir=settings.images.output_dir
        )
    return EXIT_OK


async def cmd_history(settings: Settings, args: argparse.Namespace) -> int:
    async with await SqliteStore.open(settings.storage.path) as store:
        window = await store.history(
            console_key(args.thread) if ":" not in args.thread else _parse_key(args.thread),
            token_budget=10**9,
            max_turns=10**6,
        )
    if args.json:
        rows = [
            {
                "id": t.id,
                "role": t.role.value,
                "author": t.author_name,
                "status": t.status.value,
                "model": t.model,
                "text": t.text,
                "usage": asdict(t.usage) if t.usage else None,
                "trace_id": t.trace_id,
                "created_at": t.created_at,
            }
            for t in window.turns
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    if not window.turns:
        print(f"No turns stored for thread {args.thread!r}.", file=sys.stderr)
    for turn in window.turns:
        status = "" if turn.status.value == "complete" else f" [{turn.status.value}]"
        who = turn.author_name or turn.role.value
        print(f"{who}{status}: {turn.text}\n")
    return EXIT_OK


async def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    print(f"configuration: ok (upstream {settings.upstream.base_url})")
    async with await SqliteStore.open(settings.storage.path):
        print(f"database: ok ({settings.storage.path})")
    platforms = _configured_platforms(settings)
    print(f"platforms: {', '.join(platforms) if platforms else 'none configured'}")
    request = ChatRequest(
        model=args.model or settings.upstream.default_model,
        messages=({"role": "user", "content": "Reply with the word ok."},),
        max_tokens=5,
    )
    started = time.perf_counter()
    async with UpstreamClient(settings.upstream) as client:
        result = await client.complete(request)
    elapsed = (time.perf_counter() - started) * 1000
    print(f"upstream: ok ({result.model or request.model} answered in {elapsed:.0f} ms)")
    return EXIT_OK


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    platforms = _configured_platforms(settings)
    if not platforms:
        print(wording.no_platform_configured(), file=sys.stderr)
        return EXIT_INPUT
    async with open_core(settings, shared=True) as core, contextlib.AsyncExitStack() as running:
        # Questions the last stop left waiting: each platform answers its own once
        # it has finished the answers that stop cut (``core.interrupted``).
        unanswered = await core.service.unanswered()
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
            watched.append(await _start_discord(core, questions, running, ops, drains))
        if "slack" in platforms:
            from adapters.slack.app import SlackBot

            slack = SlackBot(
                settings,
                service=core.service,
                store=core.store,
                catalog=core.catalog,
                interrupted=[s for s in core.interrupted if s.key.platform == "slack"],
                unanswered=[q for q in unanswered if q.key.platform == "slack"],
            )
            await slack.start()
            running.push_async_callback(slack.stop)
            drains.append(slack.drain)
            ops.watch(
                "slack", connected=lambda: slack.connected, rate_limited=lambda: slack.rate_limited
            )
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
) -> asyncio.Task[object]:
    from adapters.discord.client import DiscordBot

    token = core.settings.discord.token
    assert token is not None
    bot = DiscordBot(
        core.settings,
        service=core.service,
        store=core.store,
        catalog=core.catalog,
        interrupted=[s for s in core.interrupted if s.key.platform == "discord"],
        unanswered=unanswered,
    )
    await running.enter_async_context(bot)
    drains.append(bot.drain)
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
    if settings.slack.bot_token is not None:
        platforms.append("slack")
    return platforms


def _parse_key(text: str) -> ThreadKey:
    """``platform:workspace/channel/thread``, as ``ThreadKey.__str__`` prints it."""
    platform, _, rest = text.partition(":")
    workspace, channel, thread = [*rest.split("/"), "", "", ""][:3]
    return ThreadKey(platform, workspace, channel, thread)


def _read_image(path: Path) -> Attachment:
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
    mime |= {".webp": "image/webp", ".gif": "image/gif"}
    kind = mime.get(path.suffix.lower())
    if kind is None:
        raise InputError(wording.unsupported_image(path.name))
    try:
        return Attachment(path.name, kind, path.read_bytes(), None)
    except OSError as error:
        raise InputError(wording.unreadable_file(path.name, error.strerror or "")) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="threadline", description="An LLM in your Discord and Slack threads."
    )
    parser.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="connect every configured platform and answer")
    chat = commands.add_parser("chat", help="talk to the model from this terminal")
    chat.add_argument("--thread", default="default", help="resume or start this thread")
    chat.add_argument("--model")
    ask = commands.add_parser("ask", help="one answer, streamed to stdout")
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
    history = commands.add_parser("history", help="print a thread as stored")
    history.add_argument("--thread", required=True)
    history.add_argument("--json", action="store_true")
    check = commands.add_parser("check", help="validate settings and reach the upstream")
    check.add_argument("--model")
    return parser


COMMANDS = {
    "run": cmd_run,
    "chat": cmd_chat,
    "ask": cmd_ask,
    "history": cmd_history,
    "check": cmd_check,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(env_file=args.env_file)
        secrets = [s.get_secret_value() for s in _secrets(settings)]
        logs.configure(settings.logging, secrets)
        return asyncio.run(COMMANDS[args.command](settings, args))
    except UpstreamError as error:
        print(error.user_message, file=sys.stderr)
        return EXIT_UPSTREAM
    except (ConfigError, InputError) as error:
        print(error.user_message, file=sys.stderr)
        return EXIT_INPUT
    except ThreadlineError as error:
        print(error.user_message, file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130


def _secrets(settings: Settings) -> list[SecretStr]:
    candidates = [
        settings.upstream.api_key,
        settings.discord.token,
        settings.slack.bot_token,
        settings.slack.app_token,
        settings.slack.signing_secret,
    ]
    return [s for s in candidates if s is not None]


if __name__ == "__main__":
    sys.exit(main())
