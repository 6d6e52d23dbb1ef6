"""The conversation's settings commands: /model, /system, /reset, and the API
parameters of /settings, /ask options and terminal flags (bot/params.py)."""

from __future__ import annotations


def unknown_model(name: str, known: list[str]) -> str:
    return f"threadline does not know the model `{name}`. Known models: {', '.join(known)}."


def model_shown(model: str, place: str, *, is_default: bool, known: list[str]) -> str:
    source = "the default" if is_default else "chosen here"
    return (
        f"This {place} uses `{model}` ({source}). Change it with /model followed by a name; "
        f"known models: {', '.join(known)}."
    )


def model_set(who: str, model: str, place: str) -> str:
    return f"{who} set this {place}'s model to `{model}`."


def system_shown(prompt: str | None, place: str) -> str:
    if prompt is None:
        return f"This {place} uses the default system prompt; set one with /system followed by it."
    return f"This {place}'s system prompt is: {prompt}"


def system_set(who: str, place: str) -> str:
    return f"{who} set this {place}'s system prompt; new answers follow it."


def system_cleared(who: str, place: str) -> str:
    return f"{who} put this {place} back on the default system prompt."


def reset_done(place: str) -> str:
    return f"Done: the next message in this {place} starts a fresh conversation."


def reset_in_channel() -> str:
    return (
        "A channel holds many conversations, and a new mention starts a fresh one. "
        "/reset clears the conversation of a thread or a direct message."
    )


def temperature_out_of_range(value: float) -> str:
    return f"Temperature must be between 0 and 2; {value} is outside that range."


def n_out_of_range(value: int, most: int | None = None) -> str:
    if most is None:
        return f"n (how many answers to generate) must be 1 or more; {value} is not."
    return f"n (how many answers to compare) must be between 1 and {most}; {value} is not."


def max_tokens_out_of_range(value: int, context: int) -> str:
    return f"max_tokens must be between 1 and {context} (this model's context); {value} is not."


def response_format_unknown(value: str, known: tuple[str, ...]) -> str:
    return f"response_format must be one of {', '.join(known)} (or json); {value} is not."


def params_unknown_word(word: str) -> str:
    return (
        f"I don't understand {word!r}. Write key=value words: temperature=0.7 "
        "max_tokens=500 format=json (or key=default to inherit again)."
    )


def params_not_a_number(name: str, raw: str) -> str:
    return f"{name} needs a number; {raw!r} is not one."


def params_nothing_to_change() -> str:
    return "Nothing to change: give at least one of temperature, max_tokens, response_format."


_PARAMS_HINT = {
    "discord": "/settings temperature:0.7 max_tokens:500 response_format:json_object",
    "slack": "/settings temperature=0.7 max_tokens=500 format=json",
    "console": "--temperature 0.7 --max-tokens 500 --json",
}


def params_shown(lines: list[tuple[str, object, str]], place: str, syntax: str) -> str:
    """Each parameter with its value and where it comes from ("here", "channel",
    the operator's default, or the model's own default when none is set)."""
    shown = []
    for name, value, source in lines:
        where = {"here": f"set for this {place}", "channel": "from the channel"}.get(
            source, "the default"
        )
        figure = "the model's default" if value is None else str(value)
        shown.append(f"{name}: {figure} ({where})")
    return f"Parameters here — {'; '.join(shown)}. Change them with {_PARAMS_HINT[syntax]}."


def params_changed(who: str, changes: dict[str, float | int | str | None], place: str) -> str:
    said = ", ".join(
        f"{name} back to the inherited value" if value is None else f"{name} to {value}"
        for name, value in changes.items()
    )
    return f"{who} set this {place}'s {said}."


def params_cleared(who: str, place: str) -> str:
    return f"{who} cleared this {place}'s parameters: it inherits them again."
