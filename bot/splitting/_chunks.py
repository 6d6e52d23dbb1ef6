"""Messages out of a text: the first message and what is left (``take_first``), or all of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.splitting._cuts import choose_cut
from bot.splitting._fences import Fence, FenceScan, closing

MIN_LIMIT = 64
"""Smallest limit accepted. A reopened fence (≤ 31 chars) plus its closing (≤ 11)
must leave room for text; 64 leaves 22 characters even in the worst case."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """One message's worth of text: ``prefix + body + suffix``."""

    prefix: str
    body: str
    suffix: str

    @property
    def text(self) -> str:
        return self.prefix + self.body + self.suffix


@dataclass(frozen=True, slots=True)
class Carry:
    """What is left after a full message: the text to continue with, and its open fence.

    ``rest`` is a plain slice of the original text (never the reopened fence), so a
    streaming engine can keep appending deltas to it. It may be whitespace only
    when just trailing newlines overflowed: an engine should wait for more text
    before posting it, and drop it if the answer ends there (platforms refuse
    blank messages).
    """

    rest: str
    fence: Fence | None

    @property
    def reopen(self) -> str:
        """The prefix the next message starts with ("" outside a code block)."""
        return self.fence.opener if self.fence is not None else ""


def take_first(text: str, limit: int, fence: Fence | None = None) -> tuple[Chunk, Carry | None]:
    """The first message of ``text`` and what is left for the next, or None if all fits.

    ``fence`` is the block ``text`` starts inside (``Carry.fence`` of the previous
    call). The chunk's text is at most ``limit`` characters; its body is never
    empty unless ``text`` is. A text that fits is never closed: mid-stream an open
    fence is simply unfinished (use ``balance_fences`` to display it).
    """
    _check_limit(limit)
    prefix = fence.opener if fence is not None else ""
    room = limit - len(prefix)
    if len(text) <= room:
        return Chunk(prefix, text, ""), None
    cut, after = choose_cut(text, room, FenceScan(text, fence, room))
    body = text[:cut]
    return Chunk(prefix, body, closing(after, body)), Carry(text[cut:], after)


def take_rendered(
    text: str, limit: int, render: Callable[[str], str], fence: Fence | None = None
) -> tuple[Chunk, Carry | None, str]:
    """``take_first``, but so that ``render(chunk.text)`` (returned third) fits ``limit``.

    Splits again with a budget cut by the overflow's proportion until the
    rendered text fits; at ``MIN_LIMIT`` it returns what it has (only a text
    that renders to over ``limit / MIN_LIMIT`` times its length gets there).
    """
    budget = limit
    while True:
        chunk, carry = take_first(text, budget, fence)
        shown = render(chunk.text)
        if len(shown) <= limit or budget == MIN_LIMIT:
            return chunk, carry, shown
        budget = max(MIN_LIMIT, min(budget - 1, budget * limit // len(shown)))


def split_text(text: str, limit: int) -> list[Chunk]:
    """All of ``text`` as messages of at most ``limit`` characters ([] for "")."""
    _check_limit(limit)
    chunks: list[Chunk] = []
    rest, fence = text, None
    while rest:
        chunk, carry = take_first(rest, limit, fence)
        chunks.append(chunk)
        if carry is None:
            break
        rest, fence = carry.rest, carry.fence
    return chunks


def _check_limit(limit: int) -> None:
    if limit < MIN_LIMIT:
        raise ValueError(f"message limit must be at least {MIN_LIMIT} characters, not {limit}")
