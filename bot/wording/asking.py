"""How a question opens its thread: the mention or slash command, the thread's
name, and the Slack assistant pane."""

from __future__ import annotations


def empty_prompt() -> str:
    return "There is nothing to answer: write a question after the mention."


def slack_empty_prompt(command: str) -> str:
    return f"Write a question after {command}, for example `{command} what is a monad?`."


def slack_asked(user_id: str, prompt: str, model: str | None) -> str:
    """The channel message a slash command's answer is threaded under."""
    via = f" (model {model})" if model else ""
    return f"<@{user_id}> asked{via}: {prompt}"


def discord_thread_name(author: str) -> str:
    """A new thread's name when its first message has no words to name it by."""
    return f"Question from {author}"


def slack_thread_title(question: str) -> str:
    """An assistant thread's title: the start of its first question."""
    words = " ".join(question.split())
    return words if len(words) <= 60 else words[:59].rstrip() + "…"


SLACK_THINKING_STATUS = "is thinking…"


def slack_prompts_title() -> str:
    return "Try asking:"


def slack_suggested_prompts() -> list[tuple[str, str]]:
    """(title, message) pairs shown when an assistant thread opens."""
    return [
        ("Summarise a text", "Summarise this text in three bullet points: "),
        ("Explain a concept", "Explain this like I'm new to the topic: "),
        ("Draft a reply", "Help me write a friendly, short reply to this message: "),
    ]
