"""``STORAGE__*``, ``LOGGING__*`` and ``OPS__*``: where data lives, what is logged, health."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from bot import wording
from bot.redact import url_without_password
from bot.settings.fields import Seconds, Secret


class StorageSettings(BaseModel):
    path: Path = Path("threadline.db")
    url: Secret | None = Field(
        default=None,
        description="the database as a URL: postgresql://user:password@host:5432/db to share "
        "one PostgreSQL between several workers, or sqlite:///path for a SQLite file (unset: "
        "SQLite at STORAGE__PATH)",
    )
    busy_timeout_ms: int = Field(default=5_000, ge=0)
    flush_interval: Seconds = 1.0

    @field_validator("url")
    @classmethod
    def _known_engine(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        scheme = value.get_secret_value().partition("://")[0].lower()
        if scheme not in ("postgresql", "postgres", "sqlite"):
            raise ValueError(wording.storage_url_unknown(scheme))
        if scheme == "sqlite" and not value.get_secret_value().startswith("sqlite:///"):
            raise ValueError(wording.storage_url_unknown(scheme))
        return value

    @property
    def postgres_url(self) -> str | None:
        """The PostgreSQL URL when STORAGE__URL names one; None for SQLite."""
        url = None if self.url is None else self.url.get_secret_value()
        return None if url is None or url.startswith("sqlite:") else url

    @property
    def where(self) -> str:
        """The database as shown to the operator: the file, or the URL without its password."""
        url = self.postgres_url
        return str(self.sqlite_path) if url is None else url_without_password(url)

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file: STORAGE__URL's sqlite:///path, else STORAGE__PATH."""
        url = None if self.url is None else self.url.get_secret_value()
        if url is not None and url.startswith("sqlite:///"):
            return Path(url.removeprefix("sqlite:///"))
        return self.path


class LoggingSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    format: Literal["plain", "json"] = "plain"
    log_message_content: bool = False

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        """``LOGGING__LEVEL=debug`` is as good as ``DEBUG``."""
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


class OpsSettings(BaseModel):
    """The operations endpoint of ``threadline run``: ``GET /healthz`` and ``GET /metrics``."""

    # Port to serve on (None: no endpoint); 0 picks a free one (tests).
    port: int | None = Field(default=8080, ge=0, le=65_535)
    host: str = Field(default="0.0.0.0", min_length=1)
    # Seconds a TCP connect to the upstream may take before /healthz calls it unreachable.
    upstream_timeout: Seconds = 2.0
    # Seconds an upstream reachability result is reused (a probe per scrape is wasteful).
    upstream_cache_seconds: float = Field(default=5.0, ge=0)

    @field_validator("port", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        """``OPS__PORT=off`` (or empty, or ``none``) disables the endpoint."""
        if isinstance(value, str) and value.strip().lower() in {"", "none", "off"}:
            return None
        return value
