"""Discord's limits, as the fake enforces them, and the errors it answers with.

Sources (each constant names its own):
- Create Message: https://discord.com/developers/docs/resources/message#create-message
- Embed limits: https://discord.com/developers/docs/resources/message#embed-object-embed-limits
- Uploading files: https://discord.com/developers/docs/reference#uploading-files
- Rate limits: https://discord.com/developers/docs/topics/rate-limits
- JSON error codes: https://discord.com/developers/docs/topics/opcodes-and-status-codes#json
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# "content: Message contents (up to 2000 characters)" (Create Message).
MAX_CONTENT_LENGTH = 2_000
# "embeds: Up to 10 rich embeds (up to 6000 characters)" (Create Message).
MAX_EMBEDS = 10
# Embed limits table: the sum of title, description, field names and values,
# footer text and author name across all embeds of a message.
MAX_EMBED_TOTAL = 6_000
MAX_EMBED_TITLE = 256
MAX_EMBED_DESCRIPTION = 4_096
MAX_EMBED_FIELDS = 25
# "files[n]: up to 10 files" per message.
MAX_FILES = 10
# Uploading files: "The default file upload limit is 10 MiB".
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
# Start Thread from Message: name is 1-100 characters.
MAX_THREAD_NAME = 100

# JSON error codes used by the fake.
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
UNKNOWN_APPLICATION = 10002
REQUEST_ENTITY_TOO_LARGE = 40005
INTERACTION_ALREADY_ACKNOWLEDGED = 40060
CANNOT_EDIT_OTHERS_MESSAGE = 50005
MISSING_PERMISSIONS = 50013
CANNOT_SEND_EMPTY_MESSAGE = 50006
INVALID_WEBHOOK_TOKEN = 50027
INVALID_FORM_BODY = 50035
THREAD_ALREADY_CREATED = 160004


class ApiError(Exception):
    """An error response in Discord's JSON shape: {"code", "message"[, "errors"]}."""

    def __init__(
        self, status: int, code: int, message: str, errors: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = dict(errors) if errors else None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


class FormErrors:
    """Collects field errors into Discord's nested `errors` object.

    {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": ...}]}}
    """

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: Sequence[str | int], code: str, message: str) -> None:
        node = self.tree
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def raise_if_any(self) -> None:
        if self.tree:
            raise ApiError(400, INVALID_FORM_BODY, "Invalid Form Body", self.tree)


def _max_length(errors: FormErrors, path: Sequence[str | int], value: object, limit: int) -> None:
    if isinstance(value, str | list) and len(value) > limit:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def embed_chars(embed: Mapping[str, Any]) -> int:
    """Characters that count towards the 6,000 total (Embed limits table)."""
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    for item in embed.get("fields") or []:
        total += len(item.get("name") or "") + len(item.get("value") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    return total


def check_message(errors: FormErrors, payload: Mapping[str, Any], path: Sequence[str] = ()) -> None:
    """Length limits of Create/Edit Message (and of interaction/webhook messages)."""
    _max_length(errors, [*path, "content"], payload.get("content"), MAX_CONTENT_LENGTH)
    embeds = payload.get("embeds") or []
    _max_length(errors, [*path, "embeds"], embeds, MAX_EMBEDS)
    for index, embed in enumerate(embeds):
        where: list[str | int] = [*path, "embeds", index]
        _max_length(errors, [*where, "title"], embed.get("title"), MAX_EMBED_TITLE)
        _max_length(
            errors, [*where, "description"], embed.get("description"), MAX_EMBED_DESCRIPTION
        )
        _max_length(errors, [*where, "fields"], embed.get("fields"), MAX_EMBED_FIELDS)
    if sum(embed_chars(embed) for embed in embeds) > MAX_EMBED_TOTAL:
        errors.add(
            [*path, "embeds"],
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}",
        )


def check_files(sizes: Sequence[int], upload_limit: int) -> None:
    """10 files per message, each within the upload cap (413 + 40005 otherwise)."""
    if len(sizes) > MAX_FILES:
        errors = FormErrors()
        errors.add(["files"], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_FILES} or fewer in length.")
        errors.raise_if_any()
    if any(size > upload_limit for size in sizes):
        raise ApiError(413, REQUEST_ENTITY_TOO_LARGE, "Request entity too large")


@dataclass(frozen=True)
class Verdict:
    """The outcome of taking one request from a bucket."""

    allowed: bool
    bucket: str
    limit: int
    remaining: int
    reset_after: float
    scope: str  # "user" (per-route) or "global"

    @property
    def retry_after(self) -> float:
        """Seconds until the window resets, rounded up to the millisecond, so a
        client that sleeps exactly this long never arrives early."""
        return math.ceil(self.reset_after * 1000) / 1000

    def headers(self, wall_now: float) -> dict[str, str]:
        """X-RateLimit-* headers (rate-limits#header-format), sent on every answer."""
        if self.scope == "global":
            return {"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"}
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": f"{wall_now + self.retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{self.retry_after:.3f}",
            "X-RateLimit-Bucket": self.bucket,
        }
        if not self.allowed:
            headers["X-RateLimit-Scope"] = self.scope
        return headers

    def body(self) -> dict[str, Any]:
        """The 429 body (rate-limits#exceeding-a-rate-limit-rate-limit-response-structure)."""
        return {
            "message": "You are being rate limited.",
            "retry_after": self.retry_after,
            "global": self.scope == "global",
        }


@dataclass
class _Window:
    limit: int
    period: float
    used: int = 0
    reset_at: float = 0.0


class RateLimiter:
    """Fixed windows keyed by (bucket, major parameter), on a monotonic clock.

    A window opens with its first request and closes `period` seconds later,
    which is what X-RateLimit-Reset-After reports, so a client that honours the
    headers never sees a 429 from one bucket alone.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}

    def take(self, bucket: str, major: str, limit: int, period: float, scope: str) -> Verdict:
        now = self._clock()
        window = self._windows.get((bucket, major))
        if window is None or now >= window.reset_at:
            window = _Window(limit, period, 0, now + period)
            self._windows[(bucket, major)] = window
        reset_after = max(window.reset_at - now, 0.0)
        if window.used >= window.limit:
            return Verdict(False, bucket, window.limit, 0, reset_after, scope)
        window.used += 1
        return Verdict(True, bucket, window.limit, window.limit - window.used, reset_after, scope)

    def exhaust(self, bucket: str, major: str, limit: int, period: float) -> None:
        """Use up a window, as another process sharing the bot token would."""
        self._windows[(bucket, major)] = _Window(limit, period, limit, self._clock() + period)
