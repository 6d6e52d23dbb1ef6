"""Names of Slack/Discord twin sentences merged in session 25, kept so that code
written before the merge (other branches) still runs. Each says its sentence through
the one merged function; nothing in this branch calls them. Delete this module once
`grep -rn "wording\\.\\(discord\\|slack\\)_\\(unreachable\\|request_failed\\|attachment_\\|file_\\)"`
finds nothing."""

from __future__ import annotations

from bot.wording.failures import platform_request_failed, platform_unreachable, request_detail
from bot.wording.files import attachment_refused, attachment_unavailable


def discord_unreachable() -> str:
    return platform_unreachable("discord")


def slack_unreachable() -> str:
    return platform_unreachable("slack")


def discord_request_failed(status: int | None, code: int | None) -> str:
    return platform_request_failed("discord", request_detail(status, code))


def slack_request_failed(code: str) -> str:
    return platform_request_failed("slack", code)


def discord_attachment_refused(name: str, problem: str, image_limit: int, text_limit: int) -> str:
    return attachment_refused(name, problem, image_limit, text_limit)


def slack_file_refused(name: str, problem: str, image_limit: int, text_limit: int) -> str:
    return attachment_refused(name, problem, image_limit, text_limit)


def discord_attachment_unavailable(name: str) -> str:
    return attachment_unavailable(name, "discord")


def slack_file_unavailable(name: str) -> str:
    return attachment_unavailable(name, "slack")
