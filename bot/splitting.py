"""Split a long markdown answer into messages that each fit a platform's limit.

A reply that outgrows one message continues in the next. Limits, in characters
of content (Python ``str`` length):

- Discord: 2,000 (Create Message, ``content``:
  https://discord.com/developers/docs/resources/message#create-message).
- Slack: ``text`` is truncated at 40,000, but Slack asks for 4,000 and splits or
  refuses (``msg_too_long``) around there in practice
  (https://api.slack.com/changelog/2018-04-truncating-really-long-messages).

The platform limit is the caller's to pass; this module only needs it to be at
least ``MIN_LIMIT``.

The shape, built for a streaming engine that edits a live message while text
arrives and "freezes" it once it is full::

    chunk, carry = take_first(text, limit)            # carry is None: all of it fits
    while carry is not None:                           # the first message is full
        post(chunk.text)
        chunk, carry = take_first(carry.rest, limit, carry.fence)

``Chunk.body`` values are slices of the original text that concatenate back to
it exactly; ``prefix``/``suffix`` are the only added characters: a code fence
closed where a split falls inside a fenced block, and reopened (same marker,
same language) at the start of the next message. ``Carry.rest`` never contains
the reopened fence: it is the plain remainder the engine keeps appending to,
and ``Carry.fence`` says which block it starts inside.

Fences follow CommonMark (a line of three or more backticks or tildes, closed
by a line of the same character at least as long), with deliberate limits: any
indentation is accepted (models indent fences inside list items); a marker
longer than ``MAX_MARKER_CHARS`` is not taken for a fence and a language longer
than ``MAX_INFO_CHARS`` reopens as a plain fence, so that ``prefix + suffix``
always fits an allowed ``limit``; fences inside block quotes (``> ```...``)
are not tracked. A split never cuts a line that starts with a fence marker, and
a split in mid-line is refused where the text after it would read as a fence.

Rendering can lengthen a chunk (``bot.render`` adds a character to each
neutralised mention, and ``&`` becomes ``&amp;`` on Slack): ``take_rendered``
splits so that the rendered text fits.

Cost: every call looks only at the first ``limit`` characters (plus the rest of
the line there), with ``str.find``/``rfind`` and one linear regex, so a call is
O(limit) whatever the length of the text, and a text that fits returns at once.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "MAX_INFO_CHARS",
    "MAX_MARKER_CHARS",
    "MIN_LIMIT",
    "Carry",
    "Chunk",
    "Fence",
    "balance_fences",
    "open_fence",
    "opening_fence",
    "split_text",
    "take_first",
    "take_rendered",
]

MAX_MARKER_CHARS = 10
"""Longest fence marker tracked; longer runs are plain text (no real answer uses them)."""

MAX_INFO_CHARS = 20
"""Longest language kept when a fence is reopened in the next message."""

MIN_LIMIT = 64
"""Smallest limit accepted. A reopened fence (≤ 31 chars) plus its closing (≤ 11)
must leave room for text; 64 leaves 22 characters even in the worst case."""

# A line that starts (after indentation) with a run of 3+ backticks or tildes.
# No nested quantifiers, disjoint classes: linear, no backtracking trap.
_FENCE_LINE = re.compile(r"^[ \t]*(?:`{3,}|~{3,}).*$", re.MULTILINE)
# The same start anywhere: the text after a cut in mid-line begins a line of its own.
_MARKER_START = re.compile(r"[ \t]*(?:`{3,}|~{3,})")
# What an unfinished last line may still grow into a fence from.
_MARKER_PREFIX = re.compile(r"[ \t]*(?:`{0,2}|~{0,2})")

_ZWJ = "\u200d"
_MAX_CLUSTER_BACKOFF = 16

_Fits: TypeAlias = Callable[[int], bool]


@dataclass(frozen=True, slots=True)
class Fence:
    """An open fenced code block: the marker that opened it and the language to reopen with."""

    marker: str
    info: str = ""

    def __post_init__(self) -> None:
        # Validated so that opener + closer always fit inside MIN_LIMIT.
        char = self.marker[:1]
        if (
            char not in ("`", "~")
            or self.marker != char * len(self.marker)
            or not 3 <= len(self.marker) <= MAX_MARKER_CHARS
        ):
            raise ValueError(f"not a fence marker: {self.marker!r}")
        if len(self.info) > MAX_INFO_CHARS or any(c.isspace() for c in self.info):
            raise ValueError(f"fence info must be one word of at most {MAX_INFO_CHARS} chars")

    @property
    def opener(self) -> str:
        """The line that reopens this block at the top of the next message."""
        return f"{self.marker}{self.info}\n"

    def is_closed_by(self, line: str) -> bool:
        """Whether ``line`` (without its newline) closes this block.

        CommonMark: the same character, a run at least as long, nothing else but
        spaces and tabs (not other white space, as for an opening line and
        ``_FENCE_LINE``); here also no longer than ``MAX_MARKER_CHARS``.
        """
        stripped = line.strip(" \t")
        run = self.marker[0] * len(stripped)
        return stripped == run and len(self.marker) <= len(run) <= MAX_MARKER_CHARS


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


def opening_fence(line: str) -> Fence | None:
    """The block that ``line`` (without its newline) opens, or None if it opens none.

    The language kept is the first word of the info string, dropped when longer
    than ``MAX_INFO_CHARS`` so a reopened fence stays short.
    """
    stripped = line.lstrip(" \t")
    char = stripped[:1]
    if char not in ("`", "~") or not stripped.startswith(char * 3):
        return None
    run = len(stripped) - len(stripped.lstrip(char))
    info = stripped[run:].strip()
    if run > MAX_MARKER_CHARS or (char == "`" and "`" in info):
        return None  # too long to track, or an inline code span like ```x```
    words = info.split(maxsplit=1)
    language = words[0] if words and len(words[0]) <= MAX_INFO_CHARS else ""
    return Fence(char * run, language)


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
    cut, after = _choose_cut(text, room, _FenceScan(text, fence, room))
    body = text[:cut]
    return Chunk(prefix, body, _closing(after, body)), Carry(text[cut:], after)


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


def open_fence(text: str) -> Fence | None:
    """The code block open at the end of ``text`` (None outside one)."""
    return _FenceScan(text, None, len(text)).fence_at(len(text))


def balance_fences(text: str) -> str:
    """``text`` with a dangling code fence closed, for displaying an unfinished stream."""
    fence = _FenceScan(text, None, len(text)).fence_at(len(text))
    return text + _closing(fence, text)


def _check_limit(limit: int) -> None:
    if limit < MIN_LIMIT:
        raise ValueError(f"message limit must be at least {MIN_LIMIT} characters, not {limit}")


def _closing(fence: Fence | None, body: str) -> str:
    """The suffix that closes ``fence`` after ``body`` (on a line of its own)."""
    if fence is None:
        return ""
    return fence.marker if body.endswith("\n") else "\n" + fence.marker


def _read_line(state: Fence | None, line: str) -> Fence | None:
    """The open block after reading ``line`` in ``state`` (CommonMark, as limited above)."""
    if state is None:
        return opening_fence(line)
    return None if state.is_closed_by(line) else state


def _same_block(one: Fence | None, other: Fence | None) -> bool:
    if one is None or other is None:
        return one is other
    return one.marker == other.marker


@dataclass(frozen=True, slots=True)
class _MarkerLine:
    """A line that starts with a backtick or tilde run: a fence, or text that looks like one."""

    start: int  # index of the line's first character
    end: int  # index just past its newline (len(text) on the last line)
    before: Fence | None  # the open block before the line
    after: Fence | None  # and after it

    @property
    def opens(self) -> bool:
        return self.before is None and self.after is not None

    @property
    def closes(self) -> bool:
        return self.before is not None and self.after is None


class _FenceScan:
    """Which code block is open where, over the first ``stop`` characters of a text."""

    def __init__(self, text: str, fence: Fence | None, stop: int) -> None:
        self._text = text
        self._initial = fence
        self._lines: list[_MarkerLine] = []
        line_end = text.find("\n", stop)
        state = fence
        for match in _FENCE_LINE.finditer(text, 0, len(text) if line_end < 0 else line_end):
            after = _read_line(state, match.group())
            end = min(match.end() + 1, len(text))
            self._lines.append(_MarkerLine(match.start(), end, state, after))
            state = after
        self._ends = [line.end for line in self._lines]

    def fence_at(self, cut: int) -> Fence | None:
        """The block open after ``text[:cut]``, for a cut that is not inside a marker line."""
        index = bisect.bisect_right(self._ends, cut)
        return self._lines[index - 1].after if index else self._initial

    def closing_len(self, cut: int) -> int:
        """How long the suffix closing the block open at ``cut`` is (0 outside a block)."""
        return len(_closing(self.fence_at(cut), self._text[cut - 1]))

    def clean(self, cut: int) -> bool:
        """False where a cut would split a marker line or leave an empty code block."""
        index = bisect.bisect_right(self._ends, cut)
        if index and self._lines[index - 1].opens and self._lines[index - 1].end == cut:
            return False  # right after an opening line: this message's block would be empty
        if index < len(self._lines):
            line = self._lines[index]
            if line.start < cut or (line.start == cut and line.closes):
                return False  # inside a marker line, or just before a closing one
        return True

    def hard_cut(self, cut: int) -> tuple[int, Fence | None]:
        """A cut inside a word, moved where it keeps every block as it was; and the open block.

        Cutting a marker line in two could turn either half into a fence the
        whole line is not (or the reverse), so such a cut moves to the line's
        start, or, for a first line longer than the room, to a nearby point
        where both halves read as the whole line does.
        """
        nearby = range(cut, max(0, cut - 2 * MAX_MARKER_CHARS - 2), -1)
        index = bisect.bisect_right(self._ends, cut)
        if index >= len(self._lines) or self._lines[index].start >= cut:
            good = next((c for c in nearby if self.keeps_tail(c)), cut)
            return good, self.fence_at(good)
        line = self._lines[index]
        if line.start > 0:
            return line.start, line.before
        for candidate in nearby:
            if self._keeps_blocks(line, candidate):
                return candidate, line.after
        return cut, _read_line(line.before, self._text[:cut])  # best effort: this chunk balanced

    def keeps_tail(self, cut: int) -> bool:
        """Whether the text after a mid-line cut, read as a line of its own, changes no block.

        For a cut that is not inside a marker line. An unfinished last line that
        could still grow into a fence ("``" mid-stream) is refused too.
        """
        text = self._text
        if text[cut - 1] == "\n":
            return True
        end = text.find("\n", cut)
        if end < 0 and _MARKER_PREFIX.fullmatch(text, cut):
            return False
        if _MARKER_START.match(text, cut) is None:
            return True
        state = self.fence_at(cut)
        return _same_block(_read_line(state, text[cut : end if end >= 0 else len(text)]), state)

    def _keeps_blocks(self, line: _MarkerLine, cut: int) -> bool:
        head = self._text[line.start : cut]
        tail = self._text[cut : line.end].rstrip("\n")
        return _same_block(_read_line(line.before, head), line.after) and _same_block(
            _read_line(line.after, tail), line.after
        )


def _choose_cut(text: str, room: int, scan: _FenceScan) -> tuple[int, Fence | None]:
    """Where the first message ends (``0 < cut < len(text)``, fitting ``room``), and its open block.

    Preference: a paragraph break, then a line break, then a space, each only
    when it keeps the message at least half full; failing that the latest
    break of any kind; only when a word is longer than the room, inside it.
    """

    def fits(cut: int) -> bool:
        return cut + scan.closing_len(cut) <= room and scan.clean(cut) and scan.keeps_tail(cut)

    half = room // 2
    paragraph, line = _line_breaks(text, room, half, fits)
    if paragraph:
        return paragraph, scan.fence_at(paragraph)
    if line >= half:
        return line, scan.fence_at(line)
    space = _last_space(text, room, fits)
    if line or space:
        cut = max(line, space)
        return cut, scan.fence_at(cut)
    return _cut_inside_word(text, room, scan)


def _line_breaks(text: str, room: int, floor: int, fits: _Fits) -> tuple[int, int]:
    """The latest paragraph break at or after ``floor`` and the latest line break (0: none).

    Walks newlines backwards from the room's end; a cut is just after a newline,
    and it is a paragraph break when the line it ends is blank.
    """
    paragraph = line = 0
    newline = text.rfind("\n", 0, room)
    while newline >= 0:
        cut = newline + 1
        if cut < floor and line:
            break
        previous = text.rfind("\n", 0, newline)
        if fits(cut):
            line = line or cut
            if cut >= floor and not text[previous + 1 : newline].strip():
                paragraph = cut
                break
        newline = previous
    return paragraph, line


def _last_space(text: str, room: int, fits: _Fits) -> int:
    """The latest cut just after a space or tab that fits (0: none)."""
    space = text.rfind(" ", 0, room)
    tab = text.rfind("\t", 0, room)
    while space >= 0 or tab >= 0:
        index = max(space, tab)
        if fits(index + 1):
            return index + 1
        if index == space:
            space = text.rfind(" ", 0, index)
        else:
            tab = text.rfind("\t", 0, index)
    return 0


def _cut_inside_word(text: str, room: int, scan: _FenceScan) -> tuple[int, Fence | None]:
    """The fullest cut inside a word too long for the room, keeping clusters and fences whole.

    The first try cuts at the room's end; if the closing fence then does not
    fit, the second try leaves room for the longest possible one.
    """
    for target in (room, room - MAX_MARKER_CHARS - 1):
        cut, fence = scan.hard_cut(_cluster_boundary(text, target))
        if cut + len(_closing(fence, text[cut - 1])) <= room:
            break
    return cut, fence


def _cluster_boundary(text: str, cut: int) -> int:
    """``cut``, or a little before it when it would split a character cluster."""
    safe = cut
    while safe > 1 and cut - safe < _MAX_CLUSTER_BACKOFF and _inside_cluster(text, safe):
        safe -= 1
    return cut if _inside_cluster(text, safe) else safe


def _inside_cluster(text: str, cut: int) -> bool:
    """Whether a cut before ``text[cut]`` would break what a reader sees as one character.

    A cheap approximation of grapheme clusters: combining marks, zero-width
    joiner sequences, variation selectors, skin-tone modifiers, tag sequences,
    flag pairs and CRLF.
    """
    after, before = text[cut], text[cut - 1]
    code = ord(after)
    if (
        before == _ZWJ
        or after == _ZWJ
        or unicodedata.category(after).startswith("M")
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
        or (before == "\r" and after == "\n")
    ):
        return True
    if _is_regional_indicator(after) and _is_regional_indicator(before):
        run = 0
        while cut - run - 1 >= 0 and _is_regional_indicator(text[cut - run - 1]):
            run += 1
        return run % 2 == 1
    return False


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF
