"""What a thread says when threadline or a chat platform fails: the database,
shared state, our own bugs, and the platforms' refusals and outages."""

from __future__ import annotations

from bot.wording._platforms import shown


def cannot_save() -> str:
    """The thread's sentence when the database will not take a write (locked, full)."""
    return (
        "threadline cannot save messages right now (its database is busy or full), so "
        "this message was not answered. Please send it again in a minute."
    )


def answer_not_shown() -> str:
    """The thread's sentence for an answer the platform would not take, once it is back."""
    return (
        "⚠️ threadline wrote an answer here but could not show it: the chat platform "
        "kept failing. Ask again to get it."
    )


def internal_error() -> str:
    return "Something went wrong inside threadline while answering. Please try again."


def coordination_unavailable() -> str:
    return "threadline cannot reach its shared state right now. Please try again in a moment."


def platform_busy(retry_after: float) -> str:
    return f"The chat platform asked threadline to slow down; retrying in {retry_after:.1f} s."


def platform_unreachable(platform: str) -> str:
    return f"threadline could not reach {shown(platform)}. Please try again in a moment."


def platform_request_failed(platform: str, detail: str) -> str:
    """The platform refused a call; ``detail`` is its code (``request_detail`` for HTTP)."""
    return f"{shown(platform)} refused a request from threadline ({detail}). Please try again."


def request_detail(status: int | None, code: int | None) -> str:
    """ "HTTP 403, code 50013" from what an HTTP platform answered, "no detail" if nothing."""
    parts = [f"HTTP {status}" if status else "", f"code {code}" if code else ""]
    return ", ".join(part for part in parts if part) or "no detail"


def discord_token_refused() -> str:
    return "Discord refused DISCORD_TOKEN. Copy the bot token again from the Developer Portal (Bot → Reset Token)."


def slack_auth_failed(code: str) -> str:
    return (
        f"Slack refused threadline's bot token ({code}). "
        "An operator needs to check SLACK_BOT_TOKEN and the app's installation."
    )


def slack_not_installed() -> str:
    return "threadline is not installed in this Slack workspace any more, so it cannot reach it."
