"""Every configured secret cut from everything threadline sends to Slack's Web API.

``AsyncWebClient.api_call`` is the one path every method takes (``chat.postMessage``,
``chat.update``, the native streams' ``chat.appendStream`` …), and the methods that
carry text send it as ``json``: redacting that reaches every post, whoever makes it.
``params`` and ``data`` are left alone: some methods carry their token there
(``apps.connections.open`` the app token), and it must reach Slack.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.redact import Redactor


def redact_every_call(client: AsyncWebClient, redact: Redactor) -> None:
    """Redact the JSON bodies of ``client``'s Web API calls (a ``token`` field
    excepted); once per client."""
    if not redact:
        return
    call = client.api_call

    async def api_call(api_method: str, **kwargs: Any) -> Any:
        body = kwargs.get("json")
        if isinstance(body, dict):
            kwargs["json"] = {
                key: value if key == "token" else redact.deep(value) for key, value in body.items()
            }
        return await call(api_method, **kwargs)

    client.api_call = api_call  # type: ignore[method-assign]
