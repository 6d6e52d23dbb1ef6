"""The API's optional parameters in users' hands, decided once for every front end.

The seed's "Common optional parameters": ``max_tokens`` limits one answer's
tokens, ``temperature`` is "between 0-2", ``n`` is "how many candidate responses
to generate at once", ``response_format`` "sets the return format" (OpenAI's
``{"type": "text"}`` or ``{"type": "json_object"}``). Adapters declare their
options (Discord ranges and choices, Slack ``key=value`` text, terminal flags)
and hand the values here: parsing, range checks, storage and inheritance (a
thread inherits its channel's, like ``/model``) happen in this module only, and
a value out of range gets a sentence (bot/wording/commands.py), never a request.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from bot import wording
from bot.domain import ConversationSettings, Params, ThreadKey
from bot.errors import InputError
from bot.models import ModelCatalog
from bot.ports import ConversationStore
from bot.settings import UpstreamSettings

__all__ = [
    "CLEAR",
    "MAX_CANDIDATES",
    "RESPONSE_FORMATS",
    "Changes",
    "ParamsDesk",
    "Resolved",
    "as_params",
    "parse_ask_prefix",
    "parse_assignments",
    "problem",
    "wire_format",
]

RESPONSE_FORMATS: Final = ("text", "json_object")
# One message per candidate: more than a handful is a wall, not a comparison.
MAX_CANDIDATES: Final = 4
STORED: Final = ("temperature", "max_tokens", "response_format")
CLEAR: Final = "default"  # ``/settings temperature=default``: back to the inherited value

Syntax = Literal["discord", "slack", "console"]
# A change: parameter name -> new value, or None to clear it (inherit again).
Changes = Mapping[str, float | int | str | None]

_ALIASES: Final = {
    "temperature": "temperature",
    "temp": "temperature",
    "max_tokens": "max_tokens",
    "max-tokens": "max_tokens",
    "response_format": "response_format",
    "format": "response_format",
    "n": "n",
}
_ASSIGNMENT = re.compile(r"([A-Za-z_-]+)=(\S*)")


@dataclass(frozen=True, slots=True)
class Resolved:
    """The values one request carries (None: the field is left out of the body)."""

    temperature: float | None
    max_tokens: int | None
    response_format: str | None
    n: int

    @property
    def json(self) -> bool:
        return self.response_format == "json_object"


def wire_format(response_format: str | None) -> dict[str, str] | None:
    """The request body's ``response_format`` object for a stored name."""
    return None if response_format is None else {"type": response_format}


def problem(params: Params, *, context_tokens: int) -> str | None:
    """The sentence for the first value out of range, or None when all are fine."""
    if params.temperature is not None and not 0 <= params.temperature <= 2:
        return wording.temperature_out_of_range(params.temperature)
    if params.max_tokens is not None and not 1 <= params.max_tokens <= context_tokens:
        return wording.max_tokens_out_of_range(params.max_tokens, context_tokens)
    if params.response_format is not None and params.response_format not in RESPONSE_FORMATS:
        return wording.response_format_unknown(params.response_format, RESPONSE_FORMATS)
    if params.n is not None and not 1 <= params.n <= MAX_CANDIDATES:
        return wording.n_out_of_range(params.n, MAX_CANDIDATES)
    return None


def parse_assignments(text: str, *, allow_n: bool) -> Changes:
    """``key=value …`` (Slack ``/settings``) as changes; a bad word is an InputError.

    Keys: temperature (temp), max_tokens (max-tokens), response_format (format),
    and n when ``allow_n``; ``format=json`` means json_object; ``key=default``
    clears the value so the channel's (or the configured default) applies again.
    """
    changes: dict[str, float | int | str | None] = {}
    for word in text.split():
        match = _ASSIGNMENT.fullmatch(word)
        name = _ALIASES.get(match.group(1).lower()) if match else None
        if match is None or name is None or (name == "n" and not allow_n):
            raise InputError(wording.params_unknown_word(word))
        changes[name] = _value(name, match.group(2))
    return changes


def parse_ask_prefix(text: str) -> tuple[Params, str]:
    """Leading ``key=value`` words of an ``/ask`` text as parameters, and the question.

    Only known keys count: ``x=3 solve for y`` is a question. A known key with a
    bad value is an InputError (a typo must not silently become part of a prompt).
    """
    words = text.split()
    found: dict[str, float | int | str | None] = {}
    taken = 0
    for word in words:
        match = _ASSIGNMENT.fullmatch(word)
        name = _ALIASES.get(match.group(1).lower()) if match else None
        if match is None or name is None:
            break
        found[name] = _value(name, match.group(2))
        taken += 1
    rest = text.split(None, taken)[taken] if taken < len(words) else ""
    return as_params(found), rest.strip()


def as_params(values: Changes) -> Params:
    """Typed parameters from parsed values (missing or None: not given)."""
    temperature, max_tokens = values.get("temperature"), values.get("max_tokens")
    response_format, n = values.get("response_format"), values.get("n")
    return Params(
        temperature=None if temperature is None else float(temperature),
        max_tokens=None if max_tokens is None else int(max_tokens),
        response_format=None if response_format is None else str(response_format),
        n=None if n is None else int(n),
    )


def _value(name: str, raw: str) -> float | int | str | None:
    if raw.lower() == CLEAR:
        return None
    try:
        if name == "temperature":
            return float(raw)
        if name in ("max_tokens", "n"):
            return int(raw)
    except ValueError:
        raise InputError(wording.params_not_a_number(name, raw)) from None
    return "json_object" if raw.lower() == "json" else raw.lower()


class ParamsDesk:
    """``/settings`` and the per-question checks: the use-cases, for every platform."""

    def __init__(
        self,
        *,
        store: ConversationStore,
        catalog: ModelCatalog,
        upstream: UpstreamSettings,
        settings_for: Callable[[ThreadKey], Awaitable[ConversationSettings]],
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._upstream = upstream
        self._settings_for = settings_for

    async def show(self, key: ThreadKey, place: str, syntax: Syntax) -> str:
        """What a question here is sent with, and where each value comes from."""
        own = await self._store.settings(key)
        merged = await self._settings_for(key)
        lines = []
        for name in STORED:
            value = getattr(merged, name)
            if getattr(own, name) is not None:
                source = "here"
            elif value is not None:
                source = "channel"
            else:
                value, source = getattr(self._upstream, name, None), "default"
            lines.append((name, value, source))
        return wording.params_shown(lines, place, syntax)

    async def change(self, key: ThreadKey, place: str, changes: Changes, who: str) -> str:
        """Store ``changes`` on ``key`` (a channel or one conversation); refuse bad values."""
        if not changes:
            raise InputError(wording.params_nothing_to_change())
        merged = await self._settings_for(key)
        model = merged.model or self._catalog.default_model
        refused = problem(
            as_params(changes), context_tokens=self._catalog.spec(model).context_tokens
        )
        if refused is not None:
            raise InputError(refused)
        own = await self._store.settings(key)
        values = {name: changes[name] if name in changes else getattr(own, name) for name in STORED}
        new = as_params(values)
        await self._store.save_settings(
            key,
            dataclasses.replace(
                own,
                temperature=new.temperature,
                max_tokens=new.max_tokens,
                response_format=new.response_format,
            ),
        )
        return wording.params_changed(who, dict(changes), place)

    async def clear(self, key: ThreadKey, place: str, who: str) -> str:
        """Every parameter stored on ``key`` back to the inherited value."""
        own = await self._store.settings(key)
        cleared = dataclasses.replace(own, temperature=None, max_tokens=None, response_format=None)
        await self._store.save_settings(key, cleared)
        return wording.params_cleared(who, place)

    def resolve(self, settings: ConversationSettings, asked: Params, model: str) -> Resolved:
        """One request's values: the question's, else the conversation's, else the
        configured default; an InputError (its sentence) when one is out of range."""

        def pick(name: str) -> float | int | str | None:
            for source in (asked, settings, self._upstream):
                value: float | int | str | None = getattr(source, name, None)
                if value is not None:
                    return value
            return None

        params = as_params({name: pick(name) for name in STORED} | {"n": asked.n})
        refused = problem(params, context_tokens=self._catalog.spec(model).context_tokens)
        if refused is not None:
            raise InputError(refused)
        return Resolved(
            params.temperature, params.max_tokens, params.response_format, params.n or 1
        )

    def refusal(self, asked: Params, model: str | None) -> str | None:
        """A question's own values checked before anything is stored (nothing is asked)."""
        spec = self._catalog.spec(model or self._catalog.default_model)
        return problem(asked, context_tokens=spec.context_tokens)
