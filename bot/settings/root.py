"""The root ``Settings``: its sections, ``REDIS_URL``, the documented flat names, and loading."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot import wording
from bot.errors import ConfigError
from bot.setting_names import (
    StandardNamesSource,
    describe_validation_error,
    environment,
    name_problems,
    retired_in,
    unparsed_json,
)
from bot.settings.fields import Secret
from bot.settings.images import ImageSettings
from bot.settings.limits import ConversationLimits, QuotaSettings
from bot.settings.operations import LoggingSettings, OpsSettings, StorageSettings
from bot.settings.platforms import DiscordSettings, SlackSettings
from bot.settings.upstream import UpstreamSettings

# Named for the package operators know (and filter logs by), not for this module.
log = logging.getLogger("bot.settings")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
    )

    upstream: UpstreamSettings = Field(default_factory=UpstreamSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    limits: ConversationLimits = Field(default_factory=ConversationLimits)
    quota: QuotaSettings = Field(default_factory=QuotaSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    images: ImageSettings = Field(default_factory=ImageSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    # Top level, as issue 18 spells it. A secret: the URL may carry a password.
    redis_url: Secret | None = Field(
        default=None,
        description=(
            "the Redis (or Valkey) server several workers share, `redis://[:password@]host:port/db`: "
            "platform budgets, one answer at a time per thread, in-flight counts and Stop go "
            "through it (unset: one process keeps them in memory)"
        ),
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None  # REDIS_URL= (empty, as compose files write it): one process
        parts = urlsplit(value.get_secret_value())
        try:
            parts.port  # noqa: B018 - a port that is not a number raises here
        except ValueError:
            raise ValueError(wording.redis_url_not_valid()) from None
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(wording.redis_url_not_valid())
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        assert isinstance(env_settings, EnvSettingsSource)
        return (
            init_settings,
            env_settings,
            StandardNamesSource(settings_cls, env_settings),
            dotenv_settings,
            StandardNamesSource(settings_cls, dotenv_settings),
            file_secret_settings,
        )


def load_settings(env_file: str | None = ".env", **overrides: Any) -> Settings:
    """Build settings; every wrong name or value stops start-up with a sentence naming it."""
    names = environment(env_file)
    problems = name_problems(Settings, names)
    try:
        settings = Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        problems += describe_validation_error(exc, names)
    except SettingsError:  # a JSON-valued setting that is not JSON
        problems += unparsed_json(Settings, names) or [wording.settings_unreadable()]
    if problems:
        raise ConfigError(wording.settings_not_valid(problems))
    for old, new in retired_in(names).items():
        log.warning("%s is no longer read: %s replaced it (see docs/settings.md)", old, new)
    return settings
