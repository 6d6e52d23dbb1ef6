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

from typing import Any

from discord.http import HTTPClient, Route

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
