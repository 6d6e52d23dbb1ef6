"""Streamed replies: post, then edit as tokens arrive, under one shared budget.

Every chat platform punishes a bot that edits too fast, and its limits are per
channel and per bot, not per reply. So replies do not sleep on timers of their
own: each ``StreamedReply`` only marks its message "dirty", and one
``EditScheduler`` per platform connection decides what to send next:

- a message's text is taken when it is sent, so pending edits coalesce (only
  the newest text of a message matters) and a token costs a string append;
- first posts, first words and final edits go before intermediate edits;
  among those, the message updated longest ago goes first (fair across replies);
- budgets are sliding windows (at most N requests in any T seconds), the
  strictest reading of a platform's "N per T", so neither a fixed nor a sliding
  window on the platform's side is exceeded; a 429 pauses the bucket it names
  for ``retry_after`` and the edit is sent again later: nothing is lost.

A reply that outgrows the platform's limit continues in a new message, split
by ``bot.splitting`` (paragraph, line, word; code fences closed and reopened).

Modules, each importing only those after it:

- ``reply``: ``StreamedReply``, the answer's text cut into messages;
- ``scheduler``: ``EditScheduler``, what every reply sends next, and when;
- ``slot``: one message of a reply and its ``Stage``;
- ``budget``: the platforms' rates as sliding windows, and what each request leaves.
"""

from bot.streaming.budget import (
    DISCORD_BUDGET,
    DISCORD_CHANNEL_RATE,
    LONG_WINDOW,
    SLACK_BUDGET,
    UNLIMITED,
    BudgetPlan,
    Rate,
)
from bot.streaming.reply import StreamedReply
from bot.streaming.scheduler import EditScheduler, SchedulerStats
from bot.streaming.slot import Slot, Stage

__all__ = [
    "DISCORD_BUDGET",
    "DISCORD_CHANNEL_RATE",
    "LONG_WINDOW",
    "SLACK_BUDGET",
    "UNLIMITED",
    "BudgetPlan",
    "EditScheduler",
    "Rate",
    "SchedulerStats",
    "Slot",
    "Stage",
    "StreamedReply",
]
