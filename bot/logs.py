"""Logging set-up: plain or JSON lines, and secrets redacted whatever is logged.

Message text is never passed to a log call unless ``LOGGING__LOG_MESSAGE_CONTENT``
is on; the redaction filter is the second line of defence, for the values of
every configured secret.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable

from bot.settings import LoggingSettings

REDACTED = "[redacted]"
CONTENT_AT_DEBUG = ("slack_sdk", "slack_bolt")


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self._secrets:
            redacted = redacted.replace(secret, REDACTED)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class DropVoiceWarnings(logging.Filter):
    """discord.py warns at start that voice libraries are missing; threadline has no voice."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "voice will NOT be supported" not in record.getMessage()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("code", "status", "trace_id", "thread"):
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(settings: LoggingSettings, secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    handler.addFilter(DropVoiceWarnings())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level.upper())
    # httpx logs every request at INFO; that is DEBUG detail for an operator.
    for chatty in ("httpx", "httpcore", "aiosqlite"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    if not settings.log_message_content:
        # The Slack SDK and Bolt log whole request and response bodies (message text)
        # at DEBUG: kept out unless the operator asked for message content.
        for carrier in CONTENT_AT_DEBUG:
            logging.getLogger(carrier).setLevel(max(logging.INFO, root.level))
