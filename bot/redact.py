"""One redactor for every configured secret, shared by the logs and everything posted.

The log filter (``bot.logs``) and the chat-bound paths (upstream errors, the
platform targets) use the same rule, so a secret that would be hidden in a log
line is hidden in a thread too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

if TYPE_CHECKING:
    from bot.settings import Settings

REDACTED = "[redacted]"
# Shorter values would match ordinary words; no real key or token is this short.
MIN_SECRET_LENGTH = 6


class Redactor:
    """Replaces each secret's value with ``[redacted]``; the longest first, so a
    secret that contains another is hidden whole."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str | SecretStr | None]) -> None:
        values = {
            s.get_secret_value() if isinstance(s, SecretStr) else s
            for s in secrets
            if s is not None
        }
        self._secrets = sorted(
            (v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True
        )

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def deep(self, value: Any) -> Any:
        """``value`` with every string inside it (dicts, lists, tuples) redacted: a
        request's JSON body, as a platform client is about to send it."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {key: self.deep(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.deep(item) for item in value)
        return value

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"


def configured_secrets(settings: Settings) -> list[SecretStr]:
    """Every secret threadline is configured with: the API key, the platform tokens and
    the password in ``REDIS_URL`` (the rest of that URL is no secret)."""
    candidates = [
        settings.upstream.api_key,
        settings.discord.token,
        settings.slack.bot_token,
        settings.slack.app_token,
        settings.slack.signing_secret,
        settings.slack.client_secret,
    ]
    for url in (settings.redis_url, settings.storage.url):  # their passwords; the rest is no secret
        if url is None:
            continue
        password = urlsplit(url.get_secret_value()).password
        candidates.append(SecretStr(password) if password else None)
    return [s for s in candidates if s is not None]


def redactor_for(settings: Settings) -> Redactor:
    return Redactor(configured_secrets(settings))


def url_without_password(url: str) -> str:
    """``url`` fit for a log line or a sentence: any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
