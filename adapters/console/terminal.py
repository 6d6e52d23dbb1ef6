"""A terminal as a platform: the answer streams to stdout, notices to stderr."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot import wording
from bot.domain import Attachment, Incoming, ThreadKey

if TYPE_CHECKING:
    from bot.service import ReplyService

PROMPT = "you> "


class ConsoleSink:
    """Implements ``bot.ports.ReplySink`` for a terminal: no edits, just append.

    Images the model makes are saved in ``image_dir`` and their paths printed.
    """

    def __init__(
        self,
        out: TextIO | None = None,
        err: TextIO | None = None,
        *,
        image_dir: Path = Path("threadline-images"),
    ) -> None:
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._image_dir = image_dir

    async def start(self) -> None:
        return None

    async def append(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()

    async def finish(self, footer: str = "") -> tuple[str, ...]:
        self._out.write("\n")
        self._out.flush()
        if footer:
            self._err.write(footer + "\n")
            self._err.flush()
        return ()

    async def attach(self, name: str, data: bytes, mime: str) -> None:
        path = await asyncio.to_thread(self._save, name, data)
        self._out.write(wording.image_saved(str(path)) + "\n")
        self._out.flush()

    def _save(self, name: str, data: bytes) -> Path:
        self._image_dir.mkdir(parents=True, exist_ok=True)
        path = self._image_dir / Path(name).name
        stem, suffix, n = path.stem, path.suffix, 1
        while path.exists():  # never overwrite an earlier image
            n += 1
            path = self._image_dir / f"{stem}-{n}{suffix}"
        path.write_bytes(data)
        return path


def console_key(thread: str) -> ThreadKey:
    return ThreadKey(platform="console", workspace="", channel="terminal", thread=thread)


def console_incoming(
    thread: str,
    text: str,
    *,
    model: str | None = None,
    system_prompt: str | None = None,
    attachments: tuple[Attachment, ...] = (),
) -> Incoming:
    return Incoming(
        key=console_key(thread),
        message_id=uuid.uuid4().hex,  # every line typed is a new message
        author_id="console",
        author_name="you",
        text=text,
        attachments=attachments,
        model=model,
        system_prompt=system_prompt,
    )


async def chat_loop(
    service: ReplyService,
    thread: str,
    *,
    model: str | None = None,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    image_dir: Path = Path("threadline-images"),
) -> None:
    """Read a line, stream the answer, repeat until end of input or ``/exit``."""
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    sink = ConsoleSink(out, image_dir=image_dir)
    out.write(f"threadline chat: thread {thread!r}. /exit (or Ctrl-D) to leave.\n")
    while True:
        out.write(PROMPT)
        out.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line or line.strip() == "/exit":
            out.write("\n")
            return
        if not line.strip():
            continue
        await service.handle(console_incoming(thread, line.rstrip("\n"), model=model), sink)
