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

from bot.redact import REDACTED, Redactor
from bot.settings import LoggingSettings

CONTENT_AT_DEBUG = ("slack_sdk", "slack_bolt")

__all__ = ["REDACTED", "RedactSecrets", "Redactor", "configure"]


class RedactSecrets(logging.Filter):
    """Hides every configured secret in a record: its message and its traceback."""

    def __init__(self, secrets: Iterable[str] | Redactor) -> None:
        super().__init__()
        self._redact = secrets if isinstance(secrets, Redactor) else Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._redact:
            return True
        message = record.getMessage()
        redacted = self._redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        # A traceback repeats the exception's text (an upstream error's detail): the
        # formatters use ``exc_text`` when it is set, so it is formatted here, redacted.
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True


_FORMATTER = logging.Formatter()


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
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["error"] = record.exc_text
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
