"""Request and result shapes of the chat-completion API (see ../shared/seeds)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot import wording
from bot.domain import Usage
from bot.errors import InputError

# A wire message: {"role": ..., "content": str | [{"type": "text", ...}, ...]}.
WireMessage = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One call. ``extra`` passes any other API field through untouched."""

    model: str
    messages: tuple[WireMessage, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    n: int | None = None
    response_format: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The docs: "temperature: ... between 0-2".
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise InputError(wording.temperature_out_of_range(self.temperature))
        if self.n is not None and self.n < 1:
            raise InputError(wording.n_out_of_range(self.n))

    def payload(self, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = dict(self.extra)
        body["model"] = self.model
        body["messages"] = list(self.messages)
        body["stream"] = stream
        for name in ("max_tokens", "temperature", "n"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        if self.response_format is not None:
            body["response_format"] = dict(self.response_format)
        return body


@dataclass(frozen=True, slots=True)
class ChatDelta:
    """One piece of a streamed answer: text for choice ``index``, and how it ended.

    The final usage chunk (when the server sends one) arrives as a delta with
    ``usage`` set and no content.
    """

    content: str = ""
    index: int = 0
    finish_reason: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class ChatChoice:
    index: int
    content: str
    finish_reason: str | None
    role: str = "assistant"


@dataclass(frozen=True, slots=True)
class ChatResult:
    id: str
    model: str
    choices: tuple[ChatChoice, ...]
    usage: Usage | None = None
    system_fingerprint: str | None = None

    @property
    def text(self) -> str:
        return self.choices[0].content if self.choices else ""
