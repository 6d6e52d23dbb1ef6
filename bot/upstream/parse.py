"""Decoding the API's JSON into typed values, tolerating the documented quirks.

Quirks (../shared/seeds): a non-streamed result may say
``"object": "chat.completion.chunk"`` and carry ``"recipient"``; ``usage`` may be
missing; a stream's finish chunk puts ``finish_reason`` and ``index`` inside
``delta``; role-only deltas carry no text.

Streams are read as bytes (``EventStream``): at 50 tokens/s every event is its
own socket read, and a text decoder, a line iterator and an event object per
read cost more than the JSON itself.
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
        if isinstance(data, bytes):
            # Read it as a text decoder would have: invalid UTF-8 becomes U+FFFD.
            return loads(data.decode(errors="replace"))
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


def plain_text(chunk: Any) -> str | None:
    """The text of a chunk that carries nothing but text for the first choice (most
    of a stream), else None. The fast path of ``deltas_from`` for gathered reads:
    their text becomes one delta, so a ``ChatDelta`` per chunk would be waste."""
    if type(chunk) is not dict or chunk.get("usage"):
        return None
    choices = chunk.get("choices")
    if type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if type(choice) is not dict or choice.get("finish_reason") or choice.get("index", 0) != 0:
        return None
    delta = choice.get("delta")
    if type(delta) is not dict or delta.get("finish_reason") or delta.get("index", 0) != 0:
        return None
    content = delta.get("content")
    return content if type(content) is str else None


class EventStream:
    """The ``data`` of each server-sent event, from the stream's raw bytes.

    The event-stream format (https://html.spec.whatwg.org/multipage/server-sent-events.html,
    "Interpreting an event stream"): lines end in CRLF, LF or CR; a blank line
    ends an event; lines starting with ":" are comments (keep-alives); ``data``
    lines are joined with LF, one space after the colon dropped; other fields
    (``event``, ``id``, ``retry``) do not matter here. An event cut off by the end
    of the stream is not delivered, as httpx-sse did before.
    """

    __slots__ = ("_cr", "_data", "_started", "_tail")

    def __init__(self) -> None:
        self._tail = b""  # an unfinished line
        self._cr = False  # a CR ended the last chunk: an LF may follow in the next one
        self._data: list[bytes] = []
        self._started = False

    def feed(self, chunk: bytes) -> list[bytes]:
        """The data of every event the chunk completes (events without data are left out)."""
        if self._cr:
            chunk = b"\r" + chunk
            self._cr = False
        if chunk.endswith(b"\r"):
            self._cr = True
            chunk = chunk[:-1]
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if self._tail:
            chunk = self._tail + chunk
        lines = chunk.split(b"\n")
        self._tail = lines.pop()
        if not self._started and lines:
            self._started = True
            lines[0] = lines[0].removeprefix(b"\xef\xbb\xbf")  # a BOM may open the stream
        events: list[bytes] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    event = data[0] if len(data) == 1 else b"\n".join(data)
                    data.clear()
                    if event:
                        events.append(event)
            elif line.startswith(b"data"):
                value = line[4:]
                if not value:
                    data.append(b"")
                elif value[0] == 58:  # ":"
                    data.append(value[2:] if value[1:2] == b" " else value[1:])
        return events

    def end(self) -> list[bytes]:
        """What a CR held back at the end of the stream completes."""
        return self.feed(b"\n") if self._cr else []


def merged(deltas: list[ChatDelta]) -> list[ChatDelta]:
    """Consecutive text of one choice in one delta: fewer steps for every consumer."""
    if len(deltas) < 2:
        return deltas
    out: list[ChatDelta] = []
    for delta in deltas:
        if out:
            last = out[-1]
            if (
                last.finish_reason is None
                and last.usage is None
                and delta.usage is None
                and last.index == delta.index
                and last.content
            ):
                out[-1] = ChatDelta(last.content + delta.content, last.index, delta.finish_reason)
                continue
        out.append(delta)
    return out
