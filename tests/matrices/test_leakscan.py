"""Issue 9, D: the leak scan (tests/leakscan.py) fails a session that prints a secret.

A session of its own, in a subprocess, with a secret the scan is told about
(``--leakscan-secret``): one test logs it, one raises it, one posts it on the fake
Discord, one keeps quiet. The
session must fail, name both culprits, and never print the secret in its verdict.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from tests.leakscan import SECRETS, Scanner, ScanningHandler

ROOT = Path(__file__).resolve().parents[2]
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "tests.leakscan", "-p", "no:cacheprovider"]
PLANTED = "planted-secret-7f3a9c"

LEAKY_SESSION = f'''
import asyncio
import logging

from tests.fakes.discord import FakeDiscord

def test_quiet():
    logging.getLogger("threadline.quiet").info("nothing to see")

def test_logs_it():
    logging.getLogger("threadline.loud").debug("key=%s", "{PLANTED}")

def test_raises_it():
    try:
        raise RuntimeError("token {PLANTED} refused")
    except RuntimeError:
        logging.getLogger("threadline.crash").exception("it broke")

def test_posts_it():
    async def post():
        async with FakeDiscord() as fake:
            fake.world.create_message(fake.channel(), fake.bot, "your key is {PLANTED}")
    asyncio.run(post())
'''


def test_a_session_that_prints_a_secret_fails_and_names_where(tmp_path: Path) -> None:
    (tmp_path / "test_leaky.py").write_text(LEAKY_SESSION)
    done = subprocess.run(
        [*PYTEST, "--leakscan-secret", PLANTED, "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    verdict = done.stdout[done.stdout.index("leak scan") :]
    assert "4 passed" in done.stdout  # every test passed; the scan failed the session
    assert done.returncode == 1, done.stdout + done.stderr
    assert "test_leaky.py::test_logs_it: log record of threadline.loud (DEBUG)" in verdict
    assert "test_leaky.py::test_raises_it: log record of threadline.crash (ERROR)" in verdict
    assert "test_leaky.py::test_posts_it: a message posted on FakeDiscord" in verdict
    assert "test_quiet" not in verdict
    assert PLANTED not in verdict  # the verdict names the secret, it does not repeat it


def test_the_same_session_without_the_secret_passes(tmp_path: Path) -> None:
    (tmp_path / "test_leaky.py").write_text(LEAKY_SESSION)
    done = subprocess.run(
        [*PYTEST, "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "leak scan" not in done.stdout


def test_the_handler_sees_arguments_and_tracebacks() -> None:
    scanner = Scanner({"planted": PLANTED, "too short": "abc"})
    logger = logging.getLogger("tests.leakscan.unit")
    logger.propagate = False
    logger.addHandler(ScanningHandler(scanner))
    try:
        logger.warning("plain words")
        assert scanner.leaks == []
        logger.warning("a %s in the arguments", PLANTED)
        try:
            raise ValueError(PLANTED)
        except ValueError:
            logger.exception("only in the traceback")
    finally:
        logger.handlers.clear()
        logger.propagate = True
    assert [leak.where.split(": ", 1)[1] for leak in scanner.leaks] == [
        "log record of tests.leakscan.unit (WARNING)",
        "log record of tests.leakscan.unit (ERROR)",
    ]
    assert scanner.found_in("abc") == []  # short values are not secrets


def test_every_configured_secret_is_scanned_for() -> None:
    from tests.fakes.discord.config import FakeConfig
    from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET
    from tests.fakes.upstream import API_KEY

    configured = {API_KEY, FakeConfig().token, BOT_TOKEN, APP_TOKEN, SIGNING_SECRET}
    assert configured <= set(SECRETS.values())
