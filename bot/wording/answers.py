"""An answer as its thread shows it: placeholders while it comes, notices about
what the model read, and how it ended."""

from __future__ import annotations

IN_PROGRESS_MARKER = " ⏳"
THINKING_PLACEHOLDER = "⏳ thinking…"
EMPTY_ANSWER = "(The model returned an empty answer.)"


def queued() -> str:
    """The placeholder of an answer waiting for a free slot (nobody waits unseen)."""
    return "⏳ queued: many people are asking right now; your answer starts in a moment…"


def still_waiting(seconds: int) -> str:
    """The placeholder of an answer whose model has not begun after ``seconds``."""
    return f"⏳ still waiting for the model ({seconds} s); the answer starts when it does…"


def interrupted_notice() -> str:
    return "⚠️ This answer was interrupted before it finished. Ask again to continue."


def stopped_notice() -> str:
    return "⏹️ Stopped."


def context_trimmed(used: int) -> str:
    noun = "message" if used == 1 else "messages"
    return f"⚠️ Only the last {used} {noun} of this thread were used; older ones did not fit."


def question_cut(kept_bytes: int) -> str:
    return (
        f"⚠️ Your message and its files were too long for this thread's context budget "
        f"(LIMITS__CONTEXT_TOKENS): only the first {_kib(kept_bytes)} were sent to the model. "
        "Send a smaller file or the part that matters."
    )


def question_cut_marker() -> str:
    """Ends a question cut to fit, so the model knows it is not reading all of it."""
    return "[The rest of this message was cut: it did not fit the context budget.]"


def _kib(size: int) -> str:
    return f"{size / 1024:.0f} KB" if size >= 1024 else f"{size} bytes"


def model_switched(model: str, because: str) -> str:
    return f"ℹ️ Answered by {model}: {because}."


def json_not_valid(reason: str) -> str:
    return f"⚠️ JSON was asked for, but this answer is not valid JSON ({reason})."


def candidate_heading(number: int, of: int) -> str:
    return f"**Candidate {number} of {of}**\n"


def candidate_notice(number: int, notice: str) -> str:
    return f"Candidate {number}: {notice}"
