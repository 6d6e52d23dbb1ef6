"""``PassingSink``: a ``ReplySink`` wrapper that passes everything on.

Adapters wrap the streamed reply to add one thing (show Stop beside it); a wrapper
subclasses this and overrides only the calls it adds to, so a new sink call
(``queued``, ``note``, ``report_posted``) reaches the reply through every wrapper.
"""

from __future__ import annotations

from bot.ports import AcceptingSink, PostedListener, QueueingSink, ReplySink, ReportingSink

__all__ = ["PassingSink"]


class PassingSink:
    def __init__(self, inner: ReplySink) -> None:
        self._inner = inner

    async def queued(self, sentence: str) -> None:
        if isinstance(self._inner, QueueingSink):
            await self._inner.queued(sentence)

    async def note(self, sentence: str) -> None:
        if isinstance(self._inner, QueueingSink):
            await self._inner.note(sentence)

    async def question_stored(self) -> None:
        if isinstance(self._inner, AcceptingSink):
            await self._inner.question_stored()

    def report_posted(self, listener: PostedListener) -> None:
        if isinstance(self._inner, ReportingSink):
            self._inner.report_posted(listener)

    async def start(self) -> None:
        await self._inner.start()

    async def append(self, text: str) -> None:
        await self._inner.append(text)

    async def finish(self, footer: str = "") -> tuple[str, ...]:
        return await self._inner.finish(footer)

    async def attach(self, name: str, data: bytes, mime: str) -> None:
        await self._inner.attach(name, data, mime)
