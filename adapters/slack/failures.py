"""slack_sdk errors become threadline's, here at the boundary.

Slack answers errors as HTTP 200 with ``{"ok": false, "error": "<code>"}`` and
rate limiting as HTTP 429 with ``Retry-After`` in whole seconds
(https://docs.slack.dev/apis/web-api/rate-limits). slack_sdk raises
``SlackApiError`` for both; network trouble surfaces as aiohttp errors.

    SlackApiError, HTTP 429          -> PlatformRateLimited(retry_after, bucket=channel,
                                        is_global for methods limited per workspace)
    SlackApiError, invalid_auth …    -> PlatformError(code, "check SLACK_BOT_TOKEN")
    other SlackApiError              -> PlatformError(code)
    aiohttp / SlackClientError       -> PlatformError("connection_failed")
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import wording
from bot.errors import PlatformError, PlatformRateLimited, ThreadlineError

__all__ = ["AUTH_CODES", "REFUSED_CODES", "platform_error", "translated"]

# The token itself is wrong: nothing will work until an operator fixes it.
AUTH_CODES = frozenset(
    {"not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired"}
)

# The app may not use a method at all (not enabled for it, wrong token type, a
# scope it lacks): asking again will not help, so callers stop asking.
REFUSED_CODES = frozenset(
    {
        "unknown_method",
        "not_allowed_token_type",
        "missing_scope",
        "no_permission",
        "not_allowed",
        "method_deprecated",
        "feature_not_enabled",
        "access_denied",
        "team_access_not_granted",
    }
)

DEFAULT_RETRY_AFTER = 1.0  # Slack always sends Retry-After with a 429; this is a guard


def platform_error(
    error: SlackApiError, bucket: str, *, workspace_wide: bool = False
) -> ThreadlineError:
    """``workspace_wide``: the method's limit is per app per workspace (chat.update is
    Tier 3), so a 429 pauses all such calls, not only this channel's."""
    response = error.response
    status = getattr(response, "status_code", None)
    if status == 429:
        retry_after = _retry_after(getattr(response, "headers", {}))
        return PlatformRateLimited(retry_after, bucket=bucket, is_global=workspace_wide)
    code = str(_field(response, "error") or f"http_{status}")
    if code in AUTH_CODES:
        return PlatformError(wording.slack_auth_failed(code), code=code)
    return PlatformError(wording.platform_request_failed("slack", code), code=code)


@contextlib.contextmanager
def translated(bucket: str, *, workspace_wide: bool = False) -> Iterator[None]:
    """Run Web API calls inside; their failures leave as ``ThreadlineError``s."""
    try:
        yield
    except SlackApiError as error:
        raise platform_error(error, bucket, workspace_wide=workspace_wide) from error
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as error:
        raise PlatformError(
            wording.platform_unreachable("slack"), code="connection_failed"
        ) from error


def _retry_after(headers: Mapping[str, Any]) -> float:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value[0] if isinstance(value, list) else value))
            except (TypeError, ValueError, IndexError):
                break
    return DEFAULT_RETRY_AFTER


def _field(response: Any, name: str) -> Any:
    try:
        return response.get(name)
    except AttributeError:
        return None
