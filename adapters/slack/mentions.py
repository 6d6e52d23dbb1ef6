"""No text threadline sends to Slack can ping anyone.

Slack turns ``<!channel>``, ``<!here>``, ``<!everyone>``, ``<@U…>`` and
``<!subteam^S…>`` into mentions (https://docs.slack.dev/messaging/formatting-message-text#mentioning-users).
mrkdwn made by ``bot.render.render_slack`` has them escaped already (``&lt;``), but
``markdown_text`` (native streams) is sent as the model wrote it. ``inert`` puts a
zero-width space after the ``<`` (or ``&lt;``, should an entity ever be decoded)
and after the ``@`` of a bare ``@here``/``@channel``/``@everyone``: readable,
inert, as ``bot.render.render_discord`` does for Discord. Every text from the
model or a person goes to Slack through it: as markdown (native streams) or as
``mrkdwn`` (post + update, notices, the quote of a slash command). threadline's
own sentences keep the mentions they mean (``<@U…> asked: …``). It is
idempotent, so text that passed it before may pass again.

A stream sends text in pieces, and a trigger split between two of them
(``<`` | ``!channel>``) is inert in neither: ``MentionGuard`` holds back a piece's
end that could begin one until the next piece (or the end) decides.
"""

from __future__ import annotations

import re

from bot.render import render_slack

__all__ = ["MentionGuard", "inert", "mrkdwn"]

_ZWSP = "\u200b"
_PING = re.compile(r"(?<=<)(?=[!@])|(?<=&lt;)(?=[!@])|(?<=@)(?=here|channel|everyone)", re.I)
# What ``_PING`` needs to see to fire: a text ending in a proper prefix of one may
# still become a mention with the next piece.
_TRIGGERS = ("<!", "<@", "&lt;!", "&lt;@", "@here", "@channel", "@everyone")
_LONGEST = max(len(t) for t in _TRIGGERS)
_CONTEXT = len("&lt;")  # the longest lookbehind in ``_PING``


def inert(text: str) -> str:
    """``text`` with no mention Slack would resolve (a zero-width space breaks each)."""
    return _inert_from(text, 0)


def mrkdwn(markdown: str) -> str:
    """Markdown from the model or a person as Slack mrkdwn that pings nobody."""
    return inert(render_slack(markdown))


class MentionGuard:
    """``inert`` for text sent in pieces: ``feed`` each piece, ``flush`` at the end.

    What ``feed`` returns, joined, is ``inert`` of everything fed so far except a
    held-back end of at most a few characters; the last few characters released
    are kept as context, since a mention's ``<`` may have gone out with them.
    """

    def __init__(self) -> None:
        self._held = ""
        self._context = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece
        cut = _open_end(text)
        self._held = text[cut:]
        return self._release(text[:cut])

    def flush(self) -> str:
        text, self._held = self._held, ""
        return self._release(text)

    def _release(self, text: str) -> str:
        joined = self._context + text
        start = len(self._context)
        self._context = joined[-_CONTEXT:]
        return _inert_from(joined, start)


def _inert_from(text: str, start: int) -> str:
    """``text[start:]`` made inert, reading what comes before ``start`` as context."""
    parts: list[str] = []
    last = start
    for match in _PING.finditer(text, start):  # lookbehinds see before ``start``
        parts += (text[last : match.start()], _ZWSP)
        last = match.start()
    parts.append(text[last:])
    return "".join(parts)


def _open_end(text: str) -> int:
    """Where the end of ``text`` that could still become a trigger begins (else its length)."""
    for start in range(max(0, len(text) - _LONGEST), len(text)):
        tail = text[start:].lower()
        if any(len(t) > len(tail) and t.startswith(tail) for t in _TRIGGERS):
            return start
    return len(text)
