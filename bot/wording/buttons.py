"""The buttons under an answer: Stop, Regenerate, Keep (who may press them:
access.py)."""

from __future__ import annotations

# A button's word and emoji: Discord shows them as two fields of one button, Slack as
# one plain_text label (adapters/slack/buttons.py joins them).
STOP_LABEL = "Stop"
STOP_EMOJI = "⏹️"
REGENERATE_LABEL = "Regenerate"
REGENERATE_EMOJI = "🔄"


def slack_stop_fallback() -> str:
    """The notification text of the message holding an answer's Stop button."""
    return "Stop this answer"


def slack_regenerate_fallback() -> str:
    return "Regenerate this answer"


def nothing_to_regenerate() -> str:
    return "There is no answer here to regenerate; ask the question again instead."


def keep_prompt() -> str:
    return "Keep the candidate you like best: the conversation goes on from it."


def keep_label(number: int) -> str:
    return f"Keep {number}"


def candidate_kept(number: int) -> str:
    return f"✅ Kept candidate {number}: the conversation goes on from it."


def nothing_to_keep() -> str:
    return "That candidate is no longer stored, so there is nothing to keep."
