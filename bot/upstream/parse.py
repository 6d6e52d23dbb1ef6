"""Decoding the API's JSON into typed values, tolerating the documented quirks.

Quirks (../shared/seeds): a non-streamed result may say
``"object": "chat.completion.chunk"`` and carry ``"recipient"``; ``usage`` may be
missing; a stream's finish chunk puts ``finish_reason`` and ``index`` inside
``delta``; role-only deltas carry no text.
"""

from __future__ import annotations

from typing import Any

import orjson

from bot.domain import Usage
from bot.errors import UpstreamProtocolError
from bot.upstream.types import ChatChoice, ChatDelta, ChatResult


def loads(data: str | bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        preview = data[:80] if isinstance(data, str) else data[:80].decode(errors="replace")
        raise UpstreamProtocolError(
            f"a chunk that is not JSON: {preview!r}", code="bad_response"
        ) from None


def usage_from(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
    )


def result_from(body: Any) -> ChatResult:
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        raise UpstreamProtocolError("a result without choices", code="bad_response")
    choices = []
    for position, choice in enumerate(body["choices"]):
        message = choice.get("message") or {}
        choices.append(
            ChatChoice(
                index=int(choice.get("index", position)),
                content=message.get("content") or "",
                finish_reason=choice.get("finish_reason"),
                role=message.get("role") or "assistant",
            )
        )
    return ChatResult(
        id=str(body.get("id", "")),
        model=str(body.get("model", "")),
        choices=tuple(choices),
        usage=usage_from(body.get("usage")),
        system_fingerprint=body.get("system_fingerprint"),
    )


def deltas_from(chunk: Any) -> list[ChatDelta]:
    """The deltas one streamed chunk carries; role-only deltas yield nothing."""
    if not isinstance(chunk, dict):
        raise UpstreamProtocolError("a chunk that is not a JSON object", code="bad_response")
    out: list[ChatDelta] = []
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        content = delta.get("content") or ""
        finish = choice.get("finish_reason") or delta.get("finish_reason")
        if content or finish:
            index = choice.get("index", delta.get("index", 0))
            out.append(ChatDelta(content, index, finish))
    usage = chunk.get("usage")
    if usage:
        out.append(ChatDelta(usage=usage_from(usage)))
    return out
