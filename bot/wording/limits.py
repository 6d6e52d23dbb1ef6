"""Cost and abuse controls (bot/allowance.py): rates, daily quotas, questions in
flight, and /usage."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.allowance import UsageReport


def after(seconds: float) -> str:
    """ "in 12 seconds", "in 4 minutes", "in 3 h 12 min": rounded up, never "in 0"."""
    whole = max(1, math.ceil(seconds))
    if whole < 60:
        return f"in {whole} second{'s' if whole != 1 else ''}"
    minutes = math.ceil(whole / 60)
    if minutes < 60:
        return f"in {minutes} minute{'s' if minutes != 1 else ''}"
    return f"in {minutes // 60} h {minutes % 60} min"


def user_rate(per_minute: int, wait: float) -> str:
    return (
        f"You're sending messages faster than I answer them here ({per_minute} a minute). "
        f"Please ask again {after(wait)}."
    )


def channel_rate(per_minute: int, wait: float) -> str:
    return (
        f"This channel is sending me more than {per_minute} messages a minute. "
        f"Please ask again {after(wait)}."
    )


def user_quota_spent(quota: int, renews_in: float) -> str:
    return (
        f"You've used your {quota:,} tokens for today. "
        f"Your quota renews at 00:00 UTC, {after(renews_in)}."
    )


def workspace_quota_spent(quota: int, renews_in: float) -> str:
    return (
        f"This workspace has used its {quota:,} tokens for today. "
        f"The quota renews at 00:00 UTC, {after(renews_in)}."
    )


def user_in_flight(limit: int) -> str:
    questions = "question" if limit == 1 else "questions"
    return (
        f"You already have {limit} {questions} waiting for an answer. "
        "Please ask again when one of them is done."
    )


def all_in_flight() -> str:
    return "I'm answering as many questions as I can right now. Please ask again in a minute."


def busy_try_later() -> str:
    return "threadline is answering too many questions right now. Please try again in a minute."


def usage_report(report: UsageReport, place: str) -> str:
    """``/usage``: today's tokens as the quotas count them; ``place`` is "server" or "workspace"."""

    def of(used: int, quota: int, estimated: int) -> str:
        figure = f"{used:,} of {quota:,}" if quota else f"{used:,}"
        # Exact figures are the server's; estimates are threadline's (no usage reported).
        return f"{figure} ({estimated:,} estimated)" if estimated else figure

    where = [
        f"{of(report.mine, report.user_quota, report.mine_estimated)} by you",
        f"{of(report.channel, 0, report.channel_estimated)} in this channel",
    ]
    if report.workspace is not None:
        figure = of(report.workspace, report.workspace_quota, report.workspace_estimated)
        where.append(f"{figure} in this {place}")
    sentence = f"Tokens used today (UTC): {', '.join(where)}."
    if report.user_quota or report.workspace_quota:
        sentence += f" Quotas renew at 00:00 UTC, {after(report.renews_in)}."
    return sentence
