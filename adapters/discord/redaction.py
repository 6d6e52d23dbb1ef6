"""Every configured secret cut from everything threadline sends to Discord.

Hooking ``HTTPClient.request``, the one path every discord.py request takes (as
``counting`` does), reaches every post and edit whoever makes it: answers, error
sentences, command replies, recovery. A model that repeats a key, or a sentence
that would quote one, shows ``[redacted]`` in the thread.
"""

from __future__ import annotations

from typing import Any

from discord.http import HTTPClient, Route

from bot.redact import Redactor


def redact_every_request(http: HTTPClient, redact: Redactor) -> None:
    """Redact the JSON (``json``) and multipart JSON (``form``'s ``payload_json``) of
    ``http``'s requests; once per client."""
    if not redact:
        return
    send = http.request

    async def request(route: Route, **kwargs: Any) -> Any:
        if "json" in kwargs:
            kwargs["json"] = redact.deep(kwargs["json"])
        if kwargs.get("form"):
            kwargs["form"] = [_redacted_part(part, redact) for part in kwargs["form"]]
        return await send(route, **kwargs)

    http.request = request  # type: ignore[method-assign]


def _redacted_part(part: dict[str, Any], redact: Redactor) -> dict[str, Any]:
    if part.get("name") == "payload_json" and isinstance(part.get("value"), str):
        return {**part, "value": redact(part["value"])}
    return part
