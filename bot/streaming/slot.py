"""One platform message of a streamed reply, and how far it has come.

The scheduler keeps what is pending (its dirty queue, its requests in flight);
a slot keeps its ``Stage``, which only moves forward, through the named
transitions below.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from bot.ports import MessageRef, ReplyTarget
from bot.streaming.budget import Window

# Failed sends in a row after which a message is given up (said, never swallowed).
MAX_FAILURES = 3


class Stage(Enum):
    """How far one message has come::

        PLACEHOLDER --see_words--> WORDED --show_words--> SHOWING
             |   `-------------------show_words-------------^  |
             `------------- close (from any of these) ---------+--> CLOSING --end--> DONE

    Posts, first words and the final text are urgent; only a message in
    ``SHOWING`` (posted, showing words, more to come) can wait.
    """

    PLACEHOLDER = "placeholder"  # no words seen yet: shows, or will show, a placeholder
    WORDED = "worded"  # an unposted message has words: a held-back placeholder is now news
    SHOWING = "showing"  # the platform shows words; more may come
    CLOSING = "closing"  # the text is complete; its last send is owed
    DONE = "done"  # the last send landed, or was given up


# The members as module names: ``Stage.X`` is a slow look-up (an enum's class
# attribute, about 10x a global in Python 3.11), and mark runs for every token.
PLACEHOLDER = Stage.PLACEHOLDER
WORDED = Stage.WORDED
SHOWING = Stage.SHOWING
CLOSING = Stage.CLOSING
DONE = Stage.DONE


class Writer(Protocol):
    """What the scheduler asks of a slot's reply (``bot.streaming.reply.StreamedReply``)."""

    @property
    def target(self) -> ReplyTarget: ...

    @property
    def waiting(self) -> bool: ...  # queued for a slot: the placeholder is news

    def has_words(self, slot: Slot) -> bool: ...

    def text_for(self, slot: Slot) -> str: ...

    def posted(self) -> None: ...  # one of its messages was posted


@dataclass(eq=False)
class Slot:
    """One platform message of a reply."""

    reply: Writer
    after: Slot | None
    order: int
    ref: MessageRef | None = None
    sent_text: str | None = None
    frozen_text: str | None = None
    stage: Stage = PLACEHOLDER
    failures: int = 0
    urgent_since: float | None = None
    windows: dict[bool, list[Window]] = field(default_factory=dict)  # by "posting"
    last_sent_at: float = float("-inf")
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def bucket(self) -> str:
        return self.reply.target.bucket

    @property
    def final(self) -> bool:
        """The text is complete: no more words will come."""
        return self.stage is CLOSING or self.stage is DONE

    @property
    def gave_up(self) -> bool:
        """The last ``MAX_FAILURES`` sends failed: the platform does not show this text."""
        return self.failures >= MAX_FAILURES

    def ready(self) -> bool:
        """The first message may show a placeholder; a continuation waits for words
        and for the message before it."""
        if self.after is None or self.ref is not None:
            return True
        if self.after.ref is None and not self.after.gave_up:
            return False
        return self.reply.has_words(self)

    def urgent(self) -> bool:
        return self.ref is None or self.stage is not SHOWING

    # -- transitions ---------------------------------------------------------------

    def see_words(self) -> bool:
        """An unposted placeholder has words now: True the first time (the scheduler
        wakes, since its post is urgent news, not cosmetic, from now on)."""
        if self.stage is PLACEHOLDER and self.ref is None and self.reply.has_words(self):
            self.stage = WORDED
            return True
        return False

    def show_words(self) -> None:
        """A send landed while the message has words: it shows words from now on."""
        if self.stage is PLACEHOLDER or self.stage is WORDED:
            self.stage = SHOWING

    def close(self) -> None:
        """The text is complete (the answer ended, or the message is full)."""
        if self.stage is not DONE:
            self.stage = CLOSING

    def end(self) -> None:
        """The last send landed or was given up: whoever waits for the message goes on."""
        self.stage = DONE
        self.done.set()
