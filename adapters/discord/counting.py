"""Every REST request discord.py makes, counted in the bot's global budget.

threadline's own posts, edits, threads and buttons go through the
``EditScheduler``. discord.py also sends requests of its own: at start-up
``GET /users/@me`` and ``GET /oauth2/applications/@me``, then the command sync.
Uncounted, they landed in the same second as the first answers' requests and
pushed it past Discord's 50 requests/s (bench/e2e.py: one or two global 429s
per run). Hooking ``HTTPClient.request``, the one path every discord.py request
takes, counts them; requests the scheduler already counted pass straight through.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from discord.http import HTTPClient, Route

from bot.coordination import Coordination
from bot.shared_budget import SharedBudget
from bot.streaming import EditScheduler


def count_every_request(http: HTTPClient, scheduler: EditScheduler) -> None:
    """Route ``http``'s requests through ``scheduler.count``; once per client."""
    send = http.request

    async def request(route: Route, **kwargs: Any) -> Any:
        if _exempt(route):
            return await send(route, **kwargs)
        return await scheduler.count(lambda: send(route, **kwargs))

    http.request = request  # type: ignore[method-assign]


def _exempt(route: Route) -> bool:
    """Interaction callbacks and webhooks with a token are outside the global limit
    (https://discord.com/developers/docs/topics/rate-limits#global-rate-limit)."""
    return route.path.startswith("/interactions/") or route.webhook_token is not None


def shared_budget(coordination: Coordination | None, token: str) -> SharedBudget | None:
    """The global budget every worker of this bot spends (None: one process).

    Discord's global limit is per bot, so the key is the bot's user id, which a bot
    token carries base64-encoded before its first dot (never the token itself)."""
    if coordination is None:
        return None
    return SharedBudget(coordination, f"discord:{_bot_id(token)}")


def _bot_id(token: str) -> str:
    head = token.split(".", 1)[0]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "bot"
    return decoded if decoded.isdigit() else "bot"
