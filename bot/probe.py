"""The container's health probe: ``python -m bot.probe`` exits 0 when threadline is healthy.

The Docker image's HEALTHCHECK runs it. With the operations endpoint on
(``OPS__PORT``, 8080 in the image) it asks the running ``threadline run`` for
``GET /healthz``: the database, the upstream and every platform connection.
With ``OPS__PORT=off`` there is nothing to ask, so it makes the checks it can
from outside the process, the same ones ``/healthz`` makes: the database file
answers a read (without creating it when it is missing), or the PostgreSQL
server's port accepts a TCP connection, and the upstream's host
accepts a TCP connection (never a paid call). The platform connections cannot
be seen from outside, and the report says so.

Docker's contract: exit 0 healthy, 1 unhealthy; what it prints is kept in
``docker inspect``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from bot import wording
from bot.errors import ConfigError
from bot.health import OK, UpstreamProbe
from bot.redact import url_without_password
from bot.settings import Settings, load_settings

__all__ = ["main", "probe"]

# Seconds to wait for /healthz: below the HEALTHCHECK's --timeout (5 s).
ENDPOINT_TIMEOUT = 3.0
ANY_INTERFACE = {"0.0.0.0", "::", ""}


def ask_endpoint(host: str, port: int) -> tuple[bool, str]:
    """(healthy?, report) from the running process's ``/healthz``."""
    where = "127.0.0.1" if host in ANY_INTERFACE else host
    url = f"http://{where}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=ENDPOINT_TIMEOUT) as response:
            return True, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:  # 503: the JSON says which part is down
        return False, error.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return False, wording.probe_no_endpoint(url, str(reason))


def database_status(path: Path, busy_timeout_ms: int) -> str:
    """One read of the database file; a missing file is an error, and stays missing."""
    if not path.is_file():
        return wording.probe_no_database(str(path))
    try:
        # mode=rw: never create the file (a plain connect would).
        uri = f"{path.resolve().as_uri()}?mode=rw"
        db = sqlite3.connect(uri, uri=True, timeout=busy_timeout_ms / 1000)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            db.close()
    except sqlite3.Error as error:
        return f"error: {error}"
    return OK


async def server_status(url: str, *, timeout: float) -> str:
    """A database server (STORAGE__URL) accepts a TCP connection; nothing is logged in."""
    parts = urlsplit(url)
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(parts.hostname, parts.port or 5432)
        writer.close()
    except (OSError, TimeoutError) as error:
        return wording.probe_no_database_server(url_without_password(url), str(error) or "timeout")
    return OK


async def check_from_outside(settings: Settings) -> tuple[bool, str]:
    """The checks /healthz makes that do not need the running process."""
    upstream = UpstreamProbe(
        settings.upstream.base_url,
        timeout=settings.ops.upstream_timeout,
        cache_seconds=0,
    )
    url = settings.storage.postgres_url
    if url is None:
        checking = asyncio.to_thread(
            database_status, settings.storage.sqlite_path, settings.storage.busy_timeout_ms
        )
    else:
        checking = server_status(url, timeout=settings.ops.upstream_timeout)
    database, reachable = await asyncio.gather(checking, upstream.status())
    report = {
        "database": database,
        "upstream": reachable,
        "platforms": wording.probe_platforms_unseen(),
    }
    return database == OK and reachable == OK, json.dumps(report)


def probe(settings: Settings) -> tuple[bool, str]:
    """(healthy?, one line to print)."""
    port = settings.ops.port
    if port:  # None is off; 0 (a free port, tests only) cannot be found from outside
        return ask_endpoint(settings.ops.host, port)
    return asyncio.run(check_from_outside(settings))


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"unhealthy: {error.user_message}")
        return 1
    healthy, report = probe(settings)
    print(report)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
