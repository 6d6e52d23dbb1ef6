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

from bot.splitting._chunks import (
    MIN_LIMIT,
    Carry,
    Chunk,
    split_text,
    take_first,
    take_rendered,
)
from bot.splitting._fences import (
    MAX_INFO_CHARS,
    MAX_MARKER_CHARS,
    Fence,
    balance_fences,
    open_fence,
    opening_fence,
)

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
