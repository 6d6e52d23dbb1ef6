"""JSON answers (``response_format: json_object``): shown as a code block, checked to parse.

A server that honours ``json_object`` answers one JSON object; one that ignores it
(or a model that runs out of ``max_tokens`` mid-object) answers something else.
The answer is shown in a ```json block while it streams, and checked once it is
complete: text that does not parse gets a notice, so it is never taken for valid.
The stored turn keeps the model's text as it came (the next request's context).
"""

from __future__ import annotations

import json

from bot import wording
from bot.ports import ReplySink

__all__ = ["JsonSink", "json_problem", "with_json_instruction"]

# OpenAI refuses json_object unless a message says "JSON" ("'messages' must contain the word
# 'json' in some form, to use 'response_format' of type 'json_object'"), and the model
# needs telling anyway: the system prompt says it when the conversation's own does not.
JSON_INSTRUCTION = "Answer with one JSON object and nothing else."

OPEN = "```json\n"
CLOSE = "\n```"


class JsonSink:
    """A ``ReplySink`` that fences the answer as a JSON code block.

    A sink whose ``shows_markdown`` is False (the terminal) gets the text bare, so
    ``threadline ask --json … | jq`` reads JSON.
    """

    def __init__(self, sink: ReplySink) -> None:
        self._sink = sink
        self._fenced = getattr(sink, "shows_markdown", True)
        self._opened = False

    async def start(self) -> None:
        await self._sink.start()

    async def append(self, text: str) -> None:
        if self._fenced and not self._opened and text:
            self._opened = True
            await self._sink.append(OPEN)
        await self._sink.append(text)

    async def close_fence(self) -> None:
        """End the code block here; the next text opens a new one (the next candidate)."""
        if self._opened:
            self._opened = False
            await self._sink.append(CLOSE)

    async def finish(self, footer: str = "") -> tuple[str, ...]:
        await self.close_fence()
        return await self._sink.finish(footer)

    async def attach(self, name: str, data: bytes, mime: str) -> None:
        await self._sink.attach(name, data, mime)


def with_json_instruction(system_prompt: str) -> str:
    """The system prompt, with the JSON instruction unless it already speaks of JSON."""
    if "json" in system_prompt.lower():
        return system_prompt
    return f"{system_prompt}\n\n{JSON_INSTRUCTION}".strip()


def json_problem(text: str) -> str | None:
    """The notice for an answer that is not one JSON value, or None when it parses.

    A model that fences its own JSON (```json … ```) is forgiven the fence.
    """
    body = text.strip()
    if body.startswith("```") and body.endswith("```"):
        body = body.partition("\n")[2].rpartition("```")[0]
    try:
        json.loads(body)
    except ValueError as error:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        return wording.json_not_valid(reason)
    return None
