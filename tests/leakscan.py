"""Pytest plugin: no configured secret may show in anything the suite logs or prints.

Register it in tests/conftest.py (``pytest_plugins = ["tests.leakscan"]``) or run
``pytest -p tests.leakscan``. For the whole session it watches:

- every log record, from any logger and at every level (the root logger is set to
  DEBUG while the session runs), formatted with its arguments and traceback;
- every test's report: the failure text and the captured stdout, stderr and log;
- the stdout and stderr of subprocesses a test reads with ``communicate()``
  (``threadline run`` / ``chat`` / ``ask``, the packaging checks);
- every message posted on the fake Discord and the fake Slack (the sentences
  users read, errors included, every version of an edited one), when the fake stops.

The secrets are every token and key the fakes and tests configure (``SECRETS``),
plus any ``--leakscan-secret VALUE``. If one shows up anywhere, the session fails
at the end with a list of where (never the secret itself: the list names it).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fakes.discord.config import FakeConfig
from tests.fakes.discord.server import FakeDiscord
from tests.fakes.slack.server import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, SlackFake
from tests.fakes.upstream.seeds import API_KEY

# Every secret value the suite configures, by where it comes from. Values shorter
# than 8 characters are left out: they would match ordinary words.
SECRETS: dict[str, str] = {
    "OPENAI_API_KEY (tests/fakes/upstream/seeds.py API_KEY)": API_KEY,
    "DISCORD_TOKEN (tests/fakes/discord/config.py FakeConfig.token)": FakeConfig().token,
    "SLACK_BOT_TOKEN (tests/fakes/slack/server.py BOT_TOKEN)": BOT_TOKEN,
    "SLACK_APP_TOKEN (tests/fakes/slack/server.py APP_TOKEN)": APP_TOKEN,
    "SLACK_SIGNING_SECRET (tests/fakes/slack/server.py SIGNING_SECRET)": SIGNING_SECRET,
    # Wrong keys some tests configure on purpose: still configured, still secret.
    "a wrong OPENAI_API_KEY (tests/upstream/test_client.py)": "sk-wrong",
    "a wrong SLACK_BOT_TOKEN (tests/slack/test_http_mode.py)": "xoxb-not-the-right-one",
    "a wrong bot token (tests/slack/test_files.py)": "xoxb-not-the-bot-token",
    "a wrong DISCORD_TOKEN (tests/test_run.py)": "not-the-token",
    "a wrong SLACK_BOT_TOKEN (tests/test_cli_habits.py)": "xoxb-9-9-wrong",
}
MIN_LENGTH = 8


@dataclass(frozen=True, slots=True)
class Leak:
    secret: str  # the secret's name in SECRETS, never its value
    where: str  # what printed it: a logger, a report section, a subprocess


@dataclass
class Scanner:
    """Finds secrets in text; remembers each (secret, where) once."""

    secrets: dict[str, str]
    leaks: list[Leak] = field(default_factory=list)
    current_test: str = "(session)"

    def __post_init__(self) -> None:
        self.secrets = {n: v for n, v in self.secrets.items() if len(v) >= MIN_LENGTH}

    def found_in(self, text: str) -> list[str]:
        """The names of the secrets ``text`` contains."""
        return [name for name, value in self.secrets.items() if value in text]

    def scan(self, text: str, where: str) -> None:
        for name in self.found_in(text):
            leak = Leak(name, f"{self.current_test}: {where}")
            if leak not in self.leaks:
                self.leaks.append(leak)

    def report(self) -> list[str]:
        return [f"{leak.secret} in {leak.where}" for leak in self.leaks]


class ScanningHandler(logging.Handler):
    """Formats every record as a log line would show it, and scans it."""

    def __init__(self, scanner: Scanner) -> None:
        super().__init__(logging.DEBUG)
        self.scanner = scanner
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a record that cannot be formatted: scan its parts
            line = f"{record.msg!r} {record.args!r}"
        self.scanner.scan(line, f"log record of {record.name} ({record.levelname})")


class LeakScan:
    """The plugin object: installed at configure, judged at session finish."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.scanner = Scanner(secrets)
        self.handler = ScanningHandler(self.scanner)
        self._undo: list[Callable[[], None]] = []

    # -- set-up and tear-down ------------------------------------------------------------

    def install(self) -> None:
        root = logging.getLogger()
        level = root.level
        root.addHandler(self.handler)
        root.setLevel(logging.DEBUG)
        self._undo.append(lambda: root.setLevel(level))
        self._undo.append(lambda: root.removeHandler(self.handler))
        self._wrap(asyncio.subprocess.Process, "communicate", self._scan_async_output)
        self._wrap(subprocess.Popen, "communicate", self._scan_output)
        self._wrap(FakeDiscord, "stop", self._scan_on_stop(_discord_posts))
        self._wrap(SlackFake, "stop", self._scan_on_stop(_slack_posts))

    def uninstall(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()

    def _wrap(self, owner: type, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        setattr(owner, name, make(original))
        self._undo.append(lambda: setattr(owner, name, original))

    def _scan_output(self, original: Callable[..., Any]) -> Callable[..., Any]:
        scanner = self.scanner

        def communicate(process: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> Any:
            out, err = original(process, *args, **kwargs)
            _scan_streams(scanner, process.args, out, err)
            return out, err

        return communicate

    def _scan_async_output(self, original: Callable[..., Any]) -> Callable[..., Any]:
        scanner = self.scanner

        async def communicate(
            process: asyncio.subprocess.Process, *args: Any, **kwargs: Any
        ) -> Any:
            out, err = await original(process, *args, **kwargs)
            _scan_streams(scanner, f"pid {process.pid}", out, err)
            return out, err

        return communicate

    def _scan_on_stop(
        self, posts: Callable[[Any], Iterable[str]]
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        scanner = self.scanner

        def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
            async def stop(fake: Any) -> None:
                scanner.scan("\n".join(posts(fake)), f"a message posted on {type(fake).__name__}")
                await original(fake)

            return stop

        return wrap

    # -- hooks ----------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.scanner.current_test = item.nodeid
        root = logging.getLogger()
        if self.handler not in root.handlers:  # something replaced the root handlers
            root.addHandler(self.handler)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.scanner.current_test = report.nodeid
        if report.failed:
            self.scanner.scan(report.longreprtext, f"the {report.when} failure report")
        for title, content in report.sections:
            self.scanner.scan(content, title)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.uninstall()
        if self.scanner.leaks:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        leaks = self.scanner.report()
        if not leaks:
            return
        terminalreporter.section("leak scan: configured secrets were printed", red=True)
        for line in leaks:
            terminalreporter.line(line, red=True)
        terminalreporter.line(
            "Each of these logged or printed a token or key (tests/leakscan.py SECRETS); "
            "the session fails.",
            red=True,
        )


def _scan_streams(scanner: Scanner, what: Any, *streams: bytes | str | None) -> None:
    for name, stream in zip(("stdout", "stderr"), streams, strict=True):
        if stream:
            text = stream.decode(errors="replace") if isinstance(stream, bytes) else stream
            scanner.scan(text, f"the {name} of subprocess {_short(what)}")


def _discord_posts(fake: FakeDiscord) -> Iterator[str]:
    for message in fake.world.messages.values():
        yield from (message.content, *message.history)


def _slack_posts(fake: SlackFake) -> Iterator[str]:
    for channel in fake.workspace.messages.values():
        for message in channel.values():
            yield from (message.text, message.markdown or "", repr(message.chunks))
    yield from (repr(response) for response in fake.workspace.responses)


def _short(args: Any) -> str:
    text = (
        " ".join(map(str, args))
        if isinstance(args, Iterable) and not isinstance(args, str)
        else str(args)
    )
    return text[:80]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--leakscan-secret",
        action="append",
        default=[],
        metavar="VALUE",
        help="one more secret the leak scan looks for (repeatable)",
    )


def pytest_configure(config: pytest.Config) -> None:
    extra = config.getoption("--leakscan-secret")
    secrets = SECRETS | {f"--leakscan-secret #{n}": v for n, v in enumerate(extra, 1)}
    plugin = LeakScan(secrets)
    plugin.install()
    config.pluginmanager.register(plugin, "leakscan-session")


def iter_secrets() -> Iterator[str]:
    """The secret values (for tests that check a text for them)."""
    yield from (v for v in SECRETS.values() if len(v) >= MIN_LENGTH)
