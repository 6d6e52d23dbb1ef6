"""Code fences: which block is open where, so a cut can close it and the next message reopen it.

CommonMark, with the limits the package docstring lists (bot/splitting/__init__.py).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

MAX_MARKER_CHARS = 10
"""Longest fence marker tracked; longer runs are plain text (no real answer uses them)."""

MAX_INFO_CHARS = 20
"""Longest language kept when a fence is reopened in the next message."""

# A line that starts (after indentation) with a run of 3+ backticks or tildes.
# No nested quantifiers, disjoint classes: linear, no backtracking trap.
_FENCE_LINE = re.compile(r"^[ \t]*(?:`{3,}|~{3,}).*$", re.MULTILINE)
# The same start anywhere: the text after a cut in mid-line begins a line of its own.
_MARKER_START = re.compile(r"[ \t]*(?:`{3,}|~{3,})")
# What an unfinished last line may still grow into a fence from.
_MARKER_PREFIX = re.compile(r"[ \t]*(?:`{0,2}|~{0,2})")


@dataclass(frozen=True, slots=True)
class Fence:
    """An open fenced code block: the marker that opened it and the language to reopen with."""

    marker: str
    info: str = ""

    def __post_init__(self) -> None:
        # Validated so that opener + closer always fit inside MIN_LIMIT (_chunks.py).
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


def open_fence(text: str) -> Fence | None:
    """The code block open at the end of ``text`` (None outside one)."""
    return FenceScan(text, None, len(text)).fence_at(len(text))


def balance_fences(text: str) -> str:
    """``text`` with a dangling code fence closed, for displaying an unfinished stream."""
    fence = FenceScan(text, None, len(text)).fence_at(len(text))
    return text + closing(fence, text)


def closing(fence: Fence | None, body: str) -> str:
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


class FenceScan:
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
        return len(closing(self.fence_at(cut), self._text[cut - 1]))

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
