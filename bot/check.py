"""``threadline check``: each part a newcomer must get right, one line each.

configuration, database (can it be written?), the shared Redis when ``REDIS_URL``
is set (does it answer?), each platform whose token is set
(Discord ``GET /users/@me``, Slack ``auth.test``), and one small request to the
upstream. A part that is not ok prints its sentence on stderr; the rest are
still checked, so one run shows everything to fix. Nothing is created: the
database is probed by the caller's ``storage_problem`` (storage/probe.py).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TextIO

import httpx

from bot import wording
from bot.errors import UpstreamError
from bot.settings import DiscordSettings, Settings, SlackSettings, StorageSettings
from bot.upstream import ChatRequest, UpstreamClient

EXIT_OK, EXIT_INPUT, EXIT_UPSTREAM = 0, 2, 3
DISCORD_API = "https://discord.com/api/v10"  # discord.py's Route.BASE
PLATFORM_TIMEOUT = 10.0

DatabaseProbe = Callable[[StorageSettings], Awaitable[str | None]]
# (True, "host:port/db") or (False, the sentence); storage.redis.redis_probe.
RedisProbe = Callable[[str], Awaitable[tuple[bool, str]]]


class Report:
    """Lines on ``out``, sentences on ``err``, and the exit status they add up to."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err
        self.status = EXIT_OK

    def ok(self, part: str, detail: str) -> None:
        self.out.write(f"{part}: ok ({detail})\n")

    def not_ok(self, part: str, sentence: str, status: int = EXIT_INPUT) -> None:
        self.out.write(f"{part}: not ok\n")
        self.err.write(sentence + "\n")
        # A setting to fix (2) outranks an upstream that failed (3).
        self.status = status if self.status == EXIT_OK else min(self.status, status)


async def check(
    settings: Settings,
    *,
    model: str | None,
    database: DatabaseProbe,
    out: TextIO,
    err: TextIO,
    redis: RedisProbe | None = None,
) -> int:
    report = Report(out, err)
    key = settings.upstream.api_key
    if key is None or not key.get_secret_value():
        report.not_ok("configuration", wording.missing_api_key())
    else:
        report.ok("configuration", f"upstream {settings.upstream.base_url}")
    problem = await database(settings.storage)
    if problem is None:
        report.ok("database", f"{settings.storage.where}, writable")
    else:
        report.not_ok("database", problem)
    if settings.redis_url is not None and redis is not None:
        _platform_line(report, "redis", await redis(settings.redis_url.get_secret_value()))
    await _platforms(settings, report)
    if key is not None and key.get_secret_value():
        await _upstream(settings, model, report)
    return report.status


async def _platforms(settings: Settings, report: Report) -> None:
    slack = settings.slack
    installs = slack.client_id is not None and slack.client_secret is not None
    if installs and slack.bot_token is None:  # distributed: each workspace's token comes by install
        mode = slack.signing_secret is not None and slack.app_token is None
        _platform_line(report, "slack", slack_installs(mode))
    if settings.discord.token is None and slack.bot_token is None:
        if not installs:
            report.out.write("platforms: none configured\n")
        return
    async with httpx.AsyncClient(timeout=PLATFORM_TIMEOUT) as http:
        if settings.discord.token is not None:
            outcome = await discord_problem(settings.discord, http)
            _platform_line(report, "discord", outcome)
        if settings.slack.bot_token is not None:
            outcome = await slack_problem(settings.slack, http)
            _platform_line(report, "slack", outcome)


def _platform_line(report: Report, part: str, outcome: tuple[bool, str]) -> None:
    fine, text = outcome
    if fine:
        report.ok(part, text)
    else:
        report.not_ok(part, text)


async def discord_problem(settings: DiscordSettings, http: httpx.AsyncClient) -> tuple[bool, str]:
    """(True, "as <bot name>") or (False, the sentence)."""
    assert settings.token is not None
    url = f"{(settings.api_base or DISCORD_API).rstrip('/')}/users/@me"
    headers = {"Authorization": f"Bot {settings.token.get_secret_value()}"}
    try:
        response = await http.get(url, headers=headers)
    except httpx.TransportError:
        return False, wording.platform_unreachable("discord")
    if response.status_code == 401:
        return False, wording.discord_token_refused()
    if response.status_code >= 400:
        return False, wording.platform_request_failed(
            "discord", wording.request_detail(response.status_code, None)
        )
    return True, f"as {response.json().get('username', '?')}"


async def slack_problem(settings: SlackSettings, http: httpx.AsyncClient) -> tuple[bool, str]:
    """(True, "<team> as <bot>") or (False, the sentence); auth.test with the bot token."""
    assert settings.bot_token is not None
    headers = {"Authorization": f"Bearer {settings.bot_token.get_secret_value()}"}
    try:
        response = await http.post(settings.api_url + "auth.test", headers=headers)
        body = response.json()
    except (httpx.TransportError, ValueError):
        return False, wording.platform_unreachable("slack")
    if not body.get("ok"):
        return False, wording.slack_auth_failed(str(body.get("error", "unknown")))
    if settings.app_token is None and settings.signing_secret is None:
        return False, wording.slack_no_connection_mode()
    return True, f"{body.get('team', '?')} as {body.get('user', '?')}"


def slack_installs(http_mode: bool) -> tuple[bool, str]:
    """OAuth only: no token to try; each workspace's comes with its install."""
    if not http_mode:
        return False, wording.slack_oauth_needs_http_mode()
    return True, "OAuth installs: each workspace's token comes with its install"


async def _upstream(settings: Settings, model: str | None, report: Report) -> None:
    request = ChatRequest(
        model=model or settings.upstream.default_model,
        messages=({"role": "user", "content": "Reply with the word ok."},),
        max_tokens=5,
    )
    started = time.perf_counter()
    try:
        async with UpstreamClient(settings.upstream) as client:
            result = await client.complete(request)
    except UpstreamError as error:
        report.not_ok("upstream", error.user_message, EXIT_UPSTREAM)
        return
    elapsed = (time.perf_counter() - started) * 1000
    report.ok("upstream", f"{result.model or request.model} answered in {elapsed:.0f} ms")
