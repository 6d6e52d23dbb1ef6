"""``threadline threads`` and ``threadline history``: the stored conversations, as stored.

Read only (storage/listing.py, storage/postgres/listing.py): looking creates no
database file and migrates nothing, and a failed
answer is shown with its status and trace id, its partial text included.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict

from adapters.console import console_key
from bot import wording
from bot.domain import ThreadKey
from bot.errors import InputError
from bot.settings import Settings
from storage import listing
from storage.postgres import listing as pg_listing

EXIT_OK = 0


async def cmd_history(settings: Settings, args: argparse.Namespace) -> int:
    key = console_key(args.thread) if ":" not in args.thread else _parse_key(args.thread)
    url = settings.storage.postgres_url
    if url is not None:
        turns = await pg_listing.turns(url, key)
    else:
        turns = await listing.turns(settings.storage.sqlite_path, key)
    if turns is None:
        raise InputError(wording.unknown_thread(args.thread))
    if args.json:
        rows = [asdict(t) | {"usage": asdict(t.usage) if t.usage else None} for t in turns]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    for turn in turns:
        status = "" if turn.status == "complete" else f" [{turn.status}]"
        trace = f" (trace id: {turn.trace_id})" if turn.trace_id else ""
        print(f"{turn.author or turn.role}{status}{trace}: {turn.text}\n")
    return EXIT_OK


async def cmd_threads(settings: Settings, args: argparse.Namespace) -> int:
    url = settings.storage.postgres_url
    if url is not None:
        found = await pg_listing.threads(url)
    else:
        found = await listing.threads(settings.storage.sqlite_path)
    if args.json:
        rows = [
            {"thread": _thread_name(t.key), "turns": t.turns, "model": t.model}
            | {"last_at": t.last_at}
            for t in found
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    if not found:
        print(wording.no_threads_stored(), file=sys.stderr)
    for thread in found:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(thread.last_at or 0))
        model = f"  {thread.model}" if thread.model else ""
        print(f"{_thread_name(thread.key)}  {thread.turns} turns  {when}{model}")
    return EXIT_OK


def _thread_name(key: ThreadKey) -> str:
    """What ``history --thread`` takes: the bare name for a terminal thread."""
    return key.thread if key == console_key(key.thread) else str(key)


def _parse_key(text: str) -> ThreadKey:
    """``platform:workspace/channel/thread``, as ``ThreadKey.__str__`` prints it."""
    platform, _, rest = text.partition(":")
    workspace, channel, thread = [*rest.split("/"), "", "", ""][:3]
    return ThreadKey(platform, workspace, channel, thread)
