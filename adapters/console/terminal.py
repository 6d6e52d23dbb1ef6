"""A terminal as a platform: the answer streams to stdout, notices to stderr.

``chat`` reads lines on a daemon thread (a blocked ``readline`` must not keep
the process alive after Ctrl-C); Ctrl-C while an answer streams stops that
answer (stored as interrupted, like Discord's Stop) and a second one quits.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import threading
import uuid
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar

from bot import wording
from bot.domain import Attachment, Incoming, Params, ThreadKey

if TYPE_CHECKING:
    from bot.service import ReplyService

PROMPT = "you> "
COMMAND = re.compile(r"/\w+")  # a line that is one /word is a chat command, not a question
T = TypeVar("T")
NO_PARAMS = Params()


class ConsoleSink:
    """Implements ``bot.ports.ReplySink`` for a terminal: no edits, just append.

    Images the model makes are saved in ``image_dir`` and their paths printed.
    Answers are printed as they come, never fenced (``--json`` output pipes to jq).
    """

    shows_markdown = False

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
        self._wrote = False

    async def start(self) -> None:
        self._wrote = False

    async def append(self, text: str) -> None:
        self._wrote = self._wrote or bool(text)
        self._out.write(text)
        self._out.flush()

    async def finish(self, footer: str = "") -> tuple[str, ...]:
        if self._wrote:  # a failed answer prints nothing on stdout, only its sentence
            self._out.write("\n")
            self._out.flush()
        self._wrote = False
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
    params: Params = NO_PARAMS,
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
        params=params,
    )


async def chat_loop(
    service: ReplyService,
    thread: str,
    *,
    model: str | None = None,
    recent: Sequence[tuple[str, str]] = (),
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    image_dir: Path = Path("threadline-images"),
    params: Params = NO_PARAMS,
) -> None:
    """Read a line, stream the answer, repeat until end of input, ``/exit`` or Ctrl-C.

    ``model`` is shown (the thread's own, stored by the caller); ``recent`` are the
    thread's last turns as (role, text), shown when it is resumed.
    """
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    sink = ConsoleSink(out, image_dir=image_dir)
    out.write(wording.chat_banner(thread, model) + "\n")
    for role, text in recent:
        out.write(f"{wording.chat_speaker(role)}> {text}\n")
    lines = LineReader(stdin)
    with Interrupts() as interrupts:
        while True:
            out.write(PROMPT)
            out.flush()
            line = await interrupts.unless_interrupted(lines.next())
            if line is None or line.strip() == "/exit":
                out.write("\n")
                return
            text = line.strip()
            if COMMAND.fullmatch(text):
                known = text == "/help"
                out.write((wording.chat_help() if known else wording.chat_unknown(text)) + "\n")
            elif text:
                incoming = console_incoming(thread, line.rstrip("\n"), params=params)
                if await interrupts.unless_interrupted(service.handle(incoming, sink)) is None:
                    out.write(wording.chat_answer_stopped() + "\n")


class LineReader:
    """stdin lines delivered to the loop by a daemon thread; None at end of input."""

    def __init__(self, stdin: TextIO) -> None:
        self._stdin = stdin
        self._loop = asyncio.get_running_loop()
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._wanted = threading.Semaphore(0)
        threading.Thread(target=self._read, name="chat-stdin", daemon=True).start()

    async def next(self) -> str | None:
        self._wanted.release()  # read one line at a time, only when the prompt is shown
        return await self._lines.get()

    def _read(self) -> None:
        while True:
            self._wanted.acquire()
            line = self._stdin.readline()
            self._loop.call_soon_threadsafe(self._lines.put_nowait, line or None)
            if not line:
                return


class Interrupts:
    """Ctrl-C (SIGINT) cancels what ``unless_interrupted`` awaits; at the prompt it quits.

    Off the main thread (tests driving ``chat_loop`` directly) no handler is installed.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._current: asyncio.Future[object] | None = None
        self._installed = False

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._loop.add_signal_handler(signal.SIGINT, self._interrupt)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            self._loop.remove_signal_handler(signal.SIGINT)

    def _interrupt(self) -> None:
        if self._current is not None and not self._current.done():
            self._current.cancel()

    async def unless_interrupted(self, work: Awaitable[T]) -> T | None:
        """``work``'s result, or None when Ctrl-C cancelled it."""
        task: asyncio.Future[T] = asyncio.ensure_future(work)
        self._current = task  # type: ignore[assignment]
        try:
            return await task
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if me is not None and me.cancelling():
                raise  # the loop itself is being cancelled, not just the work
            return None
        finally:
            self._current = None
