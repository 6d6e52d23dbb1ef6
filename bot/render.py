"""Turn the model's markdown into the text each platform displays.

Both functions run on every streamed edit, so they take any prefix of an
answer ("**bol", an unclosed fence, "[text](htt") and never raise: whatever is
not yet a complete construct is shown as the characters it is so far. Both are
single passes with linear regexes (no nested quantifiers that could backtrack).

Discord renders markdown itself: only mentions are neutralised.
Slack's ``text`` field speaks mrkdwn, not markdown, so ``render_slack``
translates (https://api.slack.com/reference/surfaces/formatting).

Why not a library: of the PyPI converters tried (markdown-to-mrkdwn 0.3.3,
md2mrkdwn 0.4.5, slackify-markdown 0.2.4), the first two never escape ``& < >``
(so a model's ``<!channel>`` would ping the channel) and one rewrites inside
inline code; slackify-markdown re-renders the whole document through
markdown-it (reflowing lists and blank lines between edits) and passes
``<!channel>`` through as inline HTML. A small converter that only touches what
it understands is safer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from bot.splitting import Fence, opening_fence

__all__ = ["render_discord", "render_slack"]

_ZWSP = "\u200b"

# --- Discord ---------------------------------------------------------------

# "@everyone"/"@here" anywhere, and every "<@" (users <@1>, <@!1>, roles <@&1>).
# Defence in depth: the adapter should also send allowed_mentions=none
# (https://discord.com/developers/docs/resources/message#allowed-mentions-object).
_DISCORD_PING = re.compile(r"(?<=<)@|@(?=everyone|here)", re.IGNORECASE)


def render_discord(markdown: str) -> str:
    """``markdown`` unchanged except that no mention in it can ping anyone.

    A zero-width space after the ``@`` keeps the text readable but inert. It is
    inserted everywhere, code and URLs included: a rare ``/@here...`` path is a
    small price for a guarantee that needs no markdown parsing.
    """
    return _DISCORD_PING.sub("@" + _ZWSP, markdown)


# --- Slack -----------------------------------------------------------------


_QUOTE = re.compile(r"[ \t]{0,3}>[ \t]?")
_HEADING = re.compile(r"[ \t]{0,3}(#{1,6})(?:[ \t]+|$)")
_BULLET = re.compile(r"([ \t]*)[-*+][ \t]+")
_RULE = re.compile(r"[ \t]{0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")

_INLINE = re.compile(
    r"(?P<code>`+)"
    r"|(?P<link>!?\[)"
    r"|(?P<auto><(?:[Hh][Tt][Tt][Pp][Ss]?://|mailto:)[^<>\s]+>)"
    r"|(?P<url>[Hh][Tt][Tt][Pp][Ss]?://[^\s<>`]+)"
    r"|(?P<delim>\*+|_+|~+)"
    r"|(?P<escape>\\[!-/:-@\[-`{-~])"
)
# A link's destination and optional title, right after "]": CommonMark's form
# without nested parentheses deeper than one level. Every repeated piece starts
# with a character the previous one cannot match, so matching is linear.
_DESTINATION = re.compile(
    r"\([ \t]*(?:<(?P<angle>[^<>\n]*)>|(?P<plain>[^\s()]*(?:\([^\s()]*\)[^\s()]*)*))"
    r"(?:[ \t]+(?:\"[^\"]*\"|'[^']*'))?[ \t]*\)"
)
_LINK_SCHEMES = ("http://", "https://", "mailto:")
_MAX_LINK_TEXT = 1000  # bounds the search for "]" so many "[" cannot go quadratic
# GFM autolink rule: these trailing characters end a sentence, not the URL.
_URL_TRAILING = ".,:;!?*_~'\""


def render_slack(markdown: str) -> str:
    """``markdown`` as Slack mrkdwn.

    Headings become bold lines, bullets "•", links ``<url|text>``, emphasis
    Slack's single-character forms; code keeps its content (only escaped) and
    loses the language after its fence, which Slack would print. A fence left
    open stays open: pass ``bot.splitting.balance_fences(text)`` to close it.
    """
    lines: list[str] = []
    fence: Fence | None = None
    for line in markdown.split("\n"):
        if fence is not None:
            if fence.is_closed_by(line):
                fence = None
                lines.append("```")
            else:
                lines.append(_escape(line))
            continue
        fence = opening_fence(line)
        lines.append("```" if fence is not None else _block_line(line))
    return "\n".join(lines)


def _escape(text: str) -> str:
    """Slack's three control characters as entities, everywhere, code included.

    https://api.slack.com/reference/surfaces/formatting#escaping
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _block_line(line: str) -> str:
    """One line outside code: quotes, rules, headings and bullets, then inline."""
    quote = ""
    while match := _QUOTE.match(line):
        quote += match.group()  # ">" starts a quote in mrkdwn: kept literal
        line = line[match.end() :]
    if _RULE.match(line):
        return quote + _escape(line)
    if heading := _HEADING.match(line):
        title = _heading_title(line[heading.end() :])
        if title:
            return f"{quote}*{_inline(title, bold='')}*"
        return quote + _escape(line)
    if bullet := _BULLET.match(line):
        return f"{quote}{bullet.group(1)}• {_inline(line[bullet.end() :])}"
    return quote + _inline(line)


def _heading_title(rest: str) -> str:
    """A heading's text without its optional closing "#"s (CommonMark ATX)."""
    title = rest.strip()
    unhashed = title.rstrip("#")
    if unhashed != title and (not unhashed or unhashed[-1] in " \t"):
        title = unhashed.rstrip()
    return title


@dataclass(slots=True)
class _Run:
    """A run of ``*``, ``_`` or ``~`` that may open or close emphasis."""

    char: str
    left: int
    can_open: bool
    can_close: bool
    opens: list[str] = field(default_factory=list)
    closes: list[str] = field(default_factory=list)

    def render(self) -> str:
        """Closing marks (innermost first), unused characters, opening marks (outermost first)."""
        return "".join(self.closes) + self.char * self.left + "".join(reversed(self.opens))


def _inline(text: str, *, bold: str = "*", links: bool = True) -> str:
    """Inline markdown of one line as mrkdwn.

    ``bold`` is "" inside a heading, which is bold as a whole; ``links`` is off
    inside a link's label, where Slack cannot nest another.
    """
    pieces: list[str | _Run] = []
    pos = 0
    while match := _INLINE.search(text, pos):
        start, kind = match.start(), match.lastgroup
        pieces.append(_escape(text[pos:start]))
        pos = match.end()
        if kind == "code":
            pos = _code_span(text, match.group(), pos, pieces)
        elif kind == "link":
            pos = _link(text, match, pieces) if links else pos
            if pos == match.end():
                pieces.append(_escape(match.group()))
        elif kind == "auto":
            pieces.append("<" + _escape(match.group()[1:-1].replace("|", "%7C")) + ">")
        elif kind == "url":
            url = _trim_url(match.group())
            pieces.append(_escape(url))
            pos = start + len(url)
        elif kind == "delim":
            pieces.append(_delimiter_run(text, start, pos))
        else:  # a backslash escape stays as written: mrkdwn has no escapes of its own
            pieces.append(_escape(match.group()))
    pieces.append(_escape(text[pos:]))
    runs = [piece for piece in pieces if isinstance(piece, _Run)]
    if runs:
        _match_emphasis(runs, bold)
    return "".join(piece if isinstance(piece, str) else piece.render() for piece in pieces)


def _code_span(text: str, ticks: str, pos: int, pieces: list[str | _Run]) -> int:
    """Append a code span opened by ``ticks`` at ``pos`` (content escaped only); return the end.

    Without a closing run of the same length (yet) the backticks are literal.
    """
    search = pos
    while (close := text.find(ticks, search)) >= 0:
        run_end = close + len(ticks)
        while run_end < len(text) and text[run_end] == "`":
            run_end += 1
        if run_end - close == len(ticks):
            pieces.append(ticks + _escape(text[pos:close]) + ticks)
            return run_end
        search = run_end
    pieces.append(ticks)
    return pos


def _link(text: str, match: re.Match[str], pieces: list[str | _Run]) -> int:
    """Append ``[label](url)`` or ``![alt](url)`` as ``<url|label>``; return the end.

    Returns ``match.end()`` (nothing appended) when no complete link with a web
    or mail destination starts here, so partial links stay literal.
    """
    opened = match.end()
    close = text.find("]", opened, opened + _MAX_LINK_TEXT)
    destination = _DESTINATION.match(text, close + 1) if close >= 0 else None
    if destination is None:
        return opened
    url = destination.group("angle") or destination.group("plain") or ""
    if not url.lower().startswith(_LINK_SCHEMES):
        return opened
    label = _inline(text[opened:close], links=False)
    target = _escape(url.replace("|", "%7C"))
    pieces.append(f"<{target}|{label}>" if label.strip() else f"<{target}>")
    return destination.end()


def _trim_url(url: str) -> str:
    """A bare URL without the punctuation that ends the sentence around it."""
    while url and (
        url[-1] in _URL_TRAILING or (url[-1] == ")" and url.count(")") > url.count("("))
    ):
        url = url[:-1]
    return url


def _delimiter_run(text: str, start: int, end: int) -> _Run:
    """A ``*``/``_``/``~`` run with CommonMark's flanking rules deciding open/close."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    left_flanking = not after.isspace() and (
        not _is_punctuation(after) or before.isspace() or _is_punctuation(before)
    )
    right_flanking = not before.isspace() and (
        not _is_punctuation(before) or after.isspace() or _is_punctuation(after)
    )
    char, length = text[start], end - start
    if char == "_":  # no emphasis inside snake_case words
        can_open = left_flanking and (not right_flanking or _is_punctuation(before))
        can_close = right_flanking and (not left_flanking or _is_punctuation(after))
    elif char == "~" and length != 2:  # only ~~ strikes; "~5 min" stays literal
        can_open = can_close = False
    else:
        can_open, can_close = left_flanking, right_flanking
    return _Run(char, length, can_open, can_close)


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char)[0] in "PS"


def _match_emphasis(runs: list[_Run], bold: str) -> None:
    """Pair openers with closers (CommonMark's stack, simplified) and set their marks.

    ``bottom`` remembers, per character, the stack height below which no opener
    of it is left, so a line of unmatched closers stays linear.
    """
    openers: list[_Run] = []
    bottom = dict.fromkeys("*_~", 0)
    for run in runs:
        while run.can_close and run.left:
            index = _find_opener(openers, run.char, bottom[run.char])
            if index < 0:
                bottom[run.char] = len(openers)
                break
            opener = openers[index]
            del openers[index + 1 :]  # runs between them stay literal
            used = 2 if opener.left >= 2 and run.left >= 2 else 1
            mark = _slack_mark(run.char, used, bold)
            opener.left -= used
            run.left -= used
            opener.opens.append(mark)
            run.closes.append(mark)
            if not opener.left:
                openers.pop()
            for char, height in bottom.items():
                bottom[char] = min(height, len(openers))
        if run.can_open and run.left:
            openers.append(run)


def _find_opener(openers: list[_Run], char: str, bottom: int) -> int:
    for index in range(len(openers) - 1, bottom - 1, -1):
        if openers[index].char == char:
            return index
    return -1


def _slack_mark(char: str, used: int, bold: str) -> str:
    """mrkdwn for one matched pair: ``*bold*``, ``_italic_``, ``~strike~``."""
    if char == "~":
        return "~"
    return bold if used == 2 else "_"
