"""``LIMITS__*`` and ``QUOTA__*``: how much an answer sees, how many run, who may ask how often."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bot.settings.fields import Count


class ConversationLimits(BaseModel):
    system_prompt: str = (
        "You are threadline, a helpful assistant in a team chat. Today is {date}. "
        "Answer concisely and use Markdown."
    )
    context_tokens: Count = 16_000
    max_history_turns: Count = 200
    # Answers streaming at once. 0 (the default): as many as the upstream tolerates,
    # found by backing off on its 429s and growing otherwise (bot/concurrency.py).
    max_concurrent_replies: int = Field(default=0, ge=0)
    # On SIGTERM/SIGINT, seconds the answers in flight get to finish before they are
    # stopped (and marked interrupted); new messages are not taken meanwhile.
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    # At start, questions accepted but never answered (the process stopped while they
    # waited), and messages sent while it was down (catch-up), are answered if asked
    # within this many seconds; older ones are not (0: none).
    reask_within_seconds: float = Field(default=3600.0, ge=0)
    worker_lease_seconds: float = Field(
        default=10.0,
        gt=0,
        description="several workers sharing one database: each holds a lease this long "
        "(renewed every third of it); a worker whose lease runs out is taken over by the "
        "others within about this long (its answers marked or finished, its questions answered)",
    )
    # While the model has not begun an answer, the placeholder says so this often.
    still_waiting_seconds: float = Field(
        default=10.0,
        gt=0,
        description="while the model has not begun an answer, its placeholder says "
        "'still waiting' this often (seconds)",
    )


class QuotaSettings(BaseModel):
    """Cost and abuse controls (``QUOTA__*``); 0 turns a control off.

    Rates are token buckets kept in SQLite: a burst of ``*_per_minute`` messages,
    refilled at that rate. Daily quotas count the tokens of answers since 00:00
    UTC, from the upstream's ``usage`` (estimated when a stream carries none).
    """

    # Messages one person may send a minute (each platform user on their own).
    user_per_minute: int = Field(default=10, ge=0)
    # Messages a channel may send a minute, all its people and threads together.
    channel_per_minute: int = Field(default=30, ge=0)
    # Tokens one person's answers may use a day.
    user_daily_tokens: int = Field(default=0, ge=0)
    # Tokens a Discord server or Slack workspace may use a day.
    workspace_daily_tokens: int = Field(default=0, ge=0)
    # Questions one person may have waiting or being answered at once.
    user_max_in_flight: int = Field(default=3, ge=0)
    # Questions waiting or being answered at once, everyone together.
    max_in_flight: int = Field(default=200, ge=0)

    @classmethod
    def off(cls) -> QuotaSettings:
        """No limits at all (the core's default; ``threadline run`` passes the configured ones)."""
        return cls(
            user_per_minute=0,
            channel_per_minute=0,
            user_daily_tokens=0,
            workspace_daily_tokens=0,
            user_max_in_flight=0,
            max_in_flight=0,
        )
