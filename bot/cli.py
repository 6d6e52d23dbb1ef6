"""``threadline run | chat | ask | threads | history | check``: the command line.

The wiring lives beside it: ``bot.app`` opens the core, ``bot.cli_run`` runs the
platforms, ``bot.cli_threads`` reads stored conversations.

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
import dataclasses
import importlib.metadata
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from adapters.console import ConsoleSink, chat_loop, console_incoming, console_key
from adapters.console.flags import param_flags, params_from
from bot import logs, wording
from bot.app import Core, open_core
from bot.check import check
from bot.cli_run import cmd_run
from bot.cli_threads import cmd_history, cmd_threads
from bot.domain import Attachment, Params
from bot.errors import ConfigError, InputError, ThreadlineError, UpstreamError
from bot.files import sniff_image
from bot.redact import configured_secrets
from bot.service import Outcome
from bot.settings import Settings, load_settings
from storage.probe import storage_problem

EXIT_OK, EXIT_INPUT, EXIT_UPSTREAM = 0, 2, 3
RESUME_TURNS = 6  # turns shown when `chat` resumes a thread


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
