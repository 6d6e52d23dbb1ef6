"""A terminal as a platform: the answer streams to stdout, notices to stderr."""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import TYPE_CHECKING, TextIO

from bot.domain import Attachment, Incoming, ThreadKey

if TYPE_CHECKING:
    from bot.service import ReplyService

PROMPT = "you> "


class ConsoleSink:
    """Implements ``bot.ports.ReplySink`` for a terminal: no edits, just append."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self._out = out or sys.stdout
        self._err = err or sys.stderr

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
) -> None:
    """Read a line, stream the answer, repeat until end of input or ``/exit``."""
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    sink = ConsoleSink(out)
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
