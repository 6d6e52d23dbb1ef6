"""A streamed reply: one answer shown on a chat platform as its tokens arrive.

A reply holds the answer's text and cuts it into platform messages (slots); it
never sends anything itself. Each change only marks a slot, and the edit
scheduler (``bot.streaming.scheduler``) posts and edits when the budget allows,
asking the reply for the slot's text then (``text_for``), so a token costs a
string append. A reply that outgrows the platform's limit continues in a new
message, split by ``bot.splitting`` (paragraph, line, word; code fences closed
and reopened). The scheduler sees a reply only as a ``bot.streaming.slot.Writer``;
every message of it (placeholder, continuations) is posted in
``EditScheduler._deliver``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from bot import wording
from bot.errors import NotDelivered, ThreadlineError
from bot.ports import PostedListener, ReplyTarget
from bot.splitting import MIN_LIMIT, Fence, balance_fences, take_first
from bot.streaming.scheduler import EditScheduler
from bot.streaming.slot import Slot


class StreamedReply:
    """One answer shown on a chat platform; implements ``bot.ports.ReplySink``.

    ``render`` turns the model's markdown into the platform's text; it is called
    when a message is sent, never per token.
    """

    RENDER_HEADROOM = 0.9  # split the markdown at 90% of the limit: rendering may grow it

    def __init__(
        self,
        target: ReplyTarget,
        scheduler: EditScheduler,
        render: Callable[[str], str],
    ) -> None:
        self.target = target
        self._scheduler = scheduler
        self._render = render
        self._limit = target.limits.max_message_chars
        self._raw_limit = max(MIN_LIMIT, int(self._limit * self.RENDER_HEADROOM))
        self._raw_limit -= len(wording.IN_PROGRESS_MARKER) + 1
        self._tail: list[str] = []
        self._tail_len = 0
        self._fence: Fence | None = None
        self._finished = False
        self._slots: list[Slot] = []
        self._typing: asyncio.Task[None] | None = None
        self._placeholder = wording.THINKING_PLACEHOLDER
        self.waiting = False  # queued for a slot: the placeholder is news, not cosmetic
        self._listener: PostedListener | None = None

    def report_posted(self, listener: PostedListener) -> None:
        """Tell ``listener`` the ids of this reply's messages as each is posted."""
        self._listener = listener
        if self.posted_ids:
            listener(self.posted_ids)

    @property
    def posted_ids(self) -> tuple[str, ...]:
        return tuple(slot.ref.id for slot in self._slots if slot.ref is not None)

    def posted(self) -> None:
        """Called by the scheduler when one of this reply's messages was posted."""
        if self._listener is not None:
            self._listener(self.posted_ids)

    async def queued(self, sentence: str) -> None:
        """Show ``sentence`` (the answer waits for a slot) as soon as the budget allows;
        ``start`` turns it into the usual placeholder when the answer begins."""
        self._placeholder, self.waiting = sentence, True
        if not self._slots:
            self._slots.append(self._scheduler.new_slot(self, None))
        self._scheduler.mark(self._slots[0])

    async def note(self, sentence: str) -> None:
        """Show ``sentence`` instead of the placeholder until the first words come."""
        if self._slots and not self._tail_len and len(self._slots) == 1:
            self._placeholder = sentence
            self._scheduler.mark(self._slots[0])

    async def start(self) -> None:
        """Show a placeholder at once, and the typing indicator when the budget has room."""
        self._placeholder, self.waiting = wording.THINKING_PLACEHOLDER, False
        if not self._slots:
            self._slots.append(self._scheduler.new_slot(self, None))
        self._scheduler.mark(self._slots[0])
        # In the background: the model is asked at once, not after a round trip.
        self._typing = asyncio.create_task(self._show_typing(), name="typing")

    async def _show_typing(self) -> None:
        with contextlib.suppress(ThreadlineError):  # a missing typing indicator is cosmetic
            await self._scheduler.spend_if_idle(None, self.target.typing)

    async def append(self, text: str) -> None:
        self._tail.append(text)
        self._tail_len += len(text)
        if self._tail_len > self._raw_limit:
            self._freeze_full()
        self._scheduler.mark(self._slots[-1])

    async def finish(self, footer: str = "") -> tuple[str, ...]:
        if not self._slots:
            await self.start()
        if footer:
            self._tail.append(f"\n\n{footer}" if "".join(self._tail).strip() else footer)
        elif not "".join(self._tail).strip() and len(self._slots) == 1:
            self._tail.append(wording.EMPTY_ANSWER)
        self._finished = True
        if self._typing is not None:
            await self._typing  # a request in flight finishes before the answer does
        self._tail_len = sum(map(len, self._tail))
        self._freeze_full()
        last = self._slots[-1]
        if last.ref is None and not self.has_words(last) and last.after is not None:
            self._scheduler.forget(self._slots.pop())  # only whitespace overflowed
        else:
            self._scheduler.mark_final(last)
        await asyncio.gather(*(slot.done.wait() for slot in self._slots))
        ids = self.posted_ids
        if any(slot.gave_up for slot in self._slots):
            # The scheduler gave up on a message: the platform does not show the final
            # text. Said, not swallowed, so the answer is not recorded as shown.
            raise NotDelivered(ids)
        return ids

    async def attach(self, name: str, data: bytes, mime: str) -> None:
        """Upload a file into the reply's place, from the same rate budget as the edits."""
        await self._scheduler.spend(
            self.target.bucket, lambda: self.target.upload(name, data, mime)
        )

    # -- called by the scheduler ---------------------------------------------------

    def has_words(self, slot: Slot) -> bool:
        if slot.frozen_text is not None:
            return True
        return slot is self._slots[-1] and any(part.strip() for part in self._tail)

    def text_for(self, slot: Slot) -> str:
        """The text ``slot`` should show now."""
        if slot.frozen_text is not None:
            return slot.frozen_text
        markdown = "".join(self._tail)
        if not markdown.strip():
            return self._placeholder
        opener = self._fence.opener if self._fence is not None else ""
        shown = self._render(opener + markdown)
        room = self._limit - len(wording.IN_PROGRESS_MARKER) - 4
        if len(shown) > room and len(markdown) > MIN_LIMIT:
            # Rendering grew the text past the limit (escaping, neutralised mentions):
            # close this message at a raw length that renders small enough.
            self._freeze_full(max(MIN_LIMIT, len(markdown) * room // len(shown)))
            return self._frozen_or(slot, shown[: self._limit])
        if self._finished:
            return shown
        balanced = balance_fences(shown)
        if balanced != shown:
            return f"{balanced}\n{wording.IN_PROGRESS_MARKER.strip()}"
        return shown + wording.IN_PROGRESS_MARKER

    @staticmethod
    def _frozen_or(slot: Slot, fallback: str) -> str:
        return slot.frozen_text if slot.frozen_text is not None else fallback

    def _freeze_full(self, raw_limit: int | None = None) -> None:
        """Close every full message and continue the text in a new one."""
        raw_limit = raw_limit or self._raw_limit
        while self._tail_len > raw_limit:
            markdown = "".join(self._tail)
            limit = raw_limit
            while True:
                chunk, carry = take_first(markdown, limit, self._fence)
                if carry is None:
                    return
                rendered = self._render(chunk.text)
                if len(rendered) <= self._limit or limit <= MIN_LIMIT:
                    break
                limit = max(MIN_LIMIT, int(limit * 0.8))
            current = self._slots[-1]
            current.frozen_text = rendered
            self._scheduler.mark_final(current)
            self._tail, self._tail_len, self._fence = [carry.rest], len(carry.rest), carry.fence
            self._slots.append(self._scheduler.new_slot(self, current))
