"""Can threadline write its database? ``threadline check`` asks without changing anything.

Opening is not enough: SQLite opens a file it may not write read-only and fails
only at the first write. So the probe writes (a table created inside a
transaction that is rolled back) and never creates the file: a missing file is
judged by creating and removing a scratch file in its folder instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import tempfile
from pathlib import Path
from urllib.request import pathname2url

from bot import wording
from bot.settings import StorageSettings
from storage.postgres.probe import postgres_problem


async def storage_problem(storage: StorageSettings) -> str | None:
    """The sentence saying why the configured database cannot be used, or None."""
    url = storage.postgres_url
    if url is not None:
        return await postgres_problem(url)
    return await database_problem(storage.sqlite_path)


async def database_problem(path: Path) -> str | None:
    """The sentence saying why ``path`` cannot be used as the database, or None."""
    return await asyncio.to_thread(_problem, path)


def _problem(path: Path) -> str | None:
    if not path.exists():
        return _folder_problem(path)
    try:
        uri = f"file:{pathname2url(str(path.resolve()))}?mode=rw"  # rw: never create
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("CREATE TABLE threadline_check (x)")
            db.execute("ROLLBACK")
    except sqlite3.Error as error:
        return wording.database_not_writable(str(path), str(error))
    return None


def _folder_problem(path: Path) -> str | None:
    folder = path.parent
    if not folder.is_dir():
        return wording.database_folder_missing(str(path), str(folder))
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return wording.database_not_writable(str(path), error.strerror or str(error))
    return None
