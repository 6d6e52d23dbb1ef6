"""Where a message ends: at a paragraph, a line, a space, or, for a word too long, inside it.

A cut inside a word keeps character clusters (emoji sequences, flags, combining
marks) and fence marker lines whole.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import TypeAlias

from bot.splitting._fences import MAX_MARKER_CHARS, Fence, FenceScan, closing

_ZWJ = "\u200d"
_MAX_CLUSTER_BACKOFF = 16

_Fits: TypeAlias = Callable[[int], bool]


def choose_cut(text: str, room: int, scan: FenceScan) -> tuple[int, Fence | None]:
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


def _cut_inside_word(text: str, room: int, scan: FenceScan) -> tuple[int, Fence | None]:
    """The fullest cut inside a word too long for the room, keeping clusters and fences whole.

    The first try cuts at the room's end; if the closing fence then does not
    fit, the second try leaves room for the longest possible one.
    """
    for target in (room, room - MAX_MARKER_CHARS - 1):
        cut, fence = scan.hard_cut(_cluster_boundary(text, target))
        if cut + len(closing(fence, text[cut - 1])) <= room:
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
