"""Configuration: one typed ``Settings`` built in ``main`` and passed down.

Nested sections are set as ``SECTION__FIELD`` (``UPSTREAM__TIMEOUT_CONNECT=5``).
The platforms' and the API's standard variable names are honoured as they are
documented: ``OPENAI_API_KEY``, ``OPENAI_BASE_URL`` (the API docs' ``.env``),
``DISCORD_TOKEN``, ``SLACK_BOT_TOKEN``, ``SLACK_APP_TOKEN``, ``SLACK_SIGNING_SECRET``
(Bolt's names), and ``DISCORD_API_BASE_URL``, ``DISCORD_GATEWAY_URL``,
``SLACK_API_BASE_URL`` for the platforms' endpoints. Both forms work from the
environment and from ``.env``. Every field has a range; ``load_settings`` turns
a wrong name or value into one sentence naming the variable (bot/setting_names.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot import wording
from bot.errors import ConfigError
from bot.redact import url_without_password
from bot.setting_names import (
    StandardNamesSource,
    describe_validation_error,
    environment,
    name_problems,
    retired_in,
    unparsed_json,
    unquote,
)

log = logging.getLogger(__name__)

# Values that cannot mean a quote, a space or a comment (URLs, keys, tokens): Docker's
# --env-file passes `OPENAI_API_KEY="sk-xxx"` with its quotes, so they are taken off here.
Url = Annotated[str, BeforeValidator(unquote)]
Secret = Annotated[SecretStr, BeforeValidator(unquote)]
Seconds = Annotated[float, Field(gt=0)]
Count = Annotated[int, Field(ge=1)]
Bytes = Annotated[int, Field(ge=1)]


class ModelSpec(BaseModel):
    """What a model can do. Capabilities are declared, never guessed from the name."""

    vision: bool = False
    image_output: bool = False
    browsing: bool = False
    file_input: bool = False
    # The model cannot answer without an input image (an "edit only" image model).
    image_input_required: bool = False
    context_tokens: Count = 8_192


def _default_models() -> dict[str, ModelSpec]:
    # The families in the API docs (../shared/seeds): text, vision, browsing, image.
    return {
        "gpt-3.5-turbo": ModelSpec(context_tokens=16_385),
        "gpt-4": ModelSpec(context_tokens=8_192),
        "gpt-4-turbo": ModelSpec(vision=True, context_tokens=128_000),
        "gpt-4o": ModelSpec(vision=True, context_tokens=128_000),
        "gpt-4o-mini": ModelSpec(vision=True, context_tokens=128_000),
        "gpt-3.5-browsing": ModelSpec(browsing=True, context_tokens=16_385),
        "gpt-4-browsing": ModelSpec(browsing=True, context_tokens=8_192),
        "gpt-4o-image": ModelSpec(image_output=True, file_input=True, context_tokens=128_000),
    }


class UpstreamSettings(BaseModel):
    base_url: Url = "https://api.openai.com/v1"
    api_key: Secret | None = None
    default_model: str = Field(default="gpt-4o-mini", min_length=1)
    vision_model: str = Field(default="gpt-4o", min_length=1)
    image_model: str = Field(default="gpt-4o-image", min_length=1)
    max_tokens: Count | None = None
    temperature: float | None = None
    timeout_connect: Seconds = 10.0
    timeout_first_token: Seconds = 60.0
    timeout_idle: Seconds = 60.0
    # Tries in all (1: no retry).
    retry_attempts: int = Field(default=3, ge=1, le=20)
    retry_max_seconds: float = Field(default=30.0, ge=0)
    # How httpx talks HTTP: "aiohttp" (httpx-aiohttp: aiohttp's C parser, several
    # times cheaper per streamed chunk, see bench/e2e.py) or "httpcore" (httpx's own).
    http_transport: Literal["aiohttp", "httpcore"] = "aiohttp"
    # After the first text, a slow stream is read at most this often (seconds); what
    # arrives meanwhile waits in the socket and comes as one piece (bot/upstream/client.py).
    read_interval: float = Field(default=0.5, ge=0, le=2)
    models: dict[str, ModelSpec] = Field(default_factory=_default_models)

    @field_validator("base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        # httpx/aiohttp refuse a URL's user:password@ next to the Bearer header (a
        # traceback at the first question), and the URL is shown in `check` and logs.
        if "@" in urlsplit(value).netloc:
            raise ValueError(
                "must not carry a user name or password (user:password@); put the key in "
                "OPENAI_API_KEY and give the URL without credentials"
            )
        return value.rstrip("/")

    @field_validator("temperature")
    @classmethod
    def _temperature_in_range(cls, value: float | None) -> float | None:
        if value is not None and not 0 <= value <= 2:
            raise ValueError("must be between 0 and 2")
        return value


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


class ConversationLimits(BaseModel):
    system_prompt: str = (
        "You are threadline, a helpful assistant in a team chat. Today is {date}. "
        "Answer concisely and use Markdown."
    )
    context_tokens: Count = 16_000
    max_history_turns: Count = 200
    # Answers streaming at once. 0 (the default): as many as the upstream tolerates,
    # found by backing off on its 429s and growing otherwise (bot/concurrency.py).
    max_concurrent_replies: int = Field(default=0, ge=0)
    # On SIGTERM/SIGINT, seconds the answers in flight get to finish before they are
    # stopped (and marked interrupted); new messages are not taken meanwhile.
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    # At start, questions accepted but never answered (the process stopped while they
    # waited), and messages sent while it was down (catch-up), are answered if asked
    # within this many seconds; older ones are not (0: none).
    reask_within_seconds: float = Field(default=3600.0, ge=0)
    worker_lease_seconds: float = Field(
        default=10.0,
        gt=0,
        description="several workers sharing one database: each holds a lease this long "
        "(renewed every third of it); a worker whose lease runs out is taken over by the "
        "others within about this long (its answers marked or finished, its questions answered)",
    )
    # While the model has not begun an answer, the placeholder says so this often.
    still_waiting_seconds: float = Field(
        default=10.0,
        gt=0,
        description="while the model has not begun an answer, its placeholder says "
        "'still waiting' this often (seconds)",
    )


class QuotaSettings(BaseModel):
    """Cost and abuse controls (``QUOTA__*``); 0 turns a control off.

    Rates are token buckets kept in SQLite: a burst of ``*_per_minute`` messages,
    refilled at that rate. Daily quotas count the tokens of answers since 00:00
    UTC, from the upstream's ``usage`` (estimated when a stream carries none).
    """

    # Messages one person may send a minute (each platform user on their own).
    user_per_minute: int = Field(default=10, ge=0)
    # Messages a channel may send a minute, all its people and threads together.
    channel_per_minute: int = Field(default=30, ge=0)
    # Tokens one person's answers may use a day.
    user_daily_tokens: int = Field(default=0, ge=0)
    # Tokens a Discord server or Slack workspace may use a day.
    workspace_daily_tokens: int = Field(default=0, ge=0)
    # Questions one person may have waiting or being answered at once.
    user_max_in_flight: int = Field(default=3, ge=0)
    # Questions waiting or being answered at once, everyone together.
    max_in_flight: int = Field(default=200, ge=0)

    @classmethod
    def off(cls) -> QuotaSettings:
        """No limits at all (the core's default; ``threadline run`` passes the configured ones)."""
        return cls(
            user_per_minute=0,
            channel_per_minute=0,
            user_daily_tokens=0,
            workspace_daily_tokens=0,
            user_max_in_flight=0,
            max_in_flight=0,
        )


class DiscordSettings(BaseModel):
    """Lists are JSON in the environment: ``DISCORD__BLOCKED_USER_IDS=[123, 456]``.

    Access: a block-list always wins; an empty allow-list allows everyone. People
    pass when they are on ``allowed_user_ids`` *or* hold an ``allowed_role_ids``
    role; places pass when both the guild and the channel lists allow them.
    """

    token: Secret | None = None
    answer_in_thread: bool = True
    dev_guild_id: int | None = Field(default=None, gt=0)
    # Servers threadline answers in (empty: every server it is in).
    allowed_guild_ids: list[int] = Field(default_factory=list)
    # Servers threadline never answers in.
    blocked_guild_ids: list[int] = Field(default_factory=list)
    # Channels (or categories) it answers in; a thread counts as its parent channel.
    allowed_channel_ids: list[int] = Field(default_factory=list)
    # Channels (or categories) it never answers in, threads under them included.
    blocked_channel_ids: list[int] = Field(default_factory=list)
    # Members holding one of these roles may use it (with allowed_user_ids: either suffices).
    allowed_role_ids: list[int] = Field(default_factory=list)
    # Members holding one of these roles are ignored.
    blocked_role_ids: list[int] = Field(default_factory=list)
    # Users who may use it (with allowed_role_ids: either suffices).
    allowed_user_ids: list[int] = Field(default_factory=list)
    # Users who are ignored everywhere, direct messages included.
    blocked_user_ids: list[int] = Field(default_factory=list)
    # Answer direct messages (roles cannot be checked there: only the user lists apply).
    allow_dms: bool = True
    admin_user_ids: list[int] = Field(
        default_factory=list,
        description=(
            "users who may change a channel's `/model` and `/system` "
            "(besides members who can manage the channel)"
        ),
    )
    # Largest image read: Discord's default upload cap (10 MiB) is what most users can
    # send, and as a base64 data: URL (x4/3, 13.3 MiB) it stays under OpenAI's 20 MB
    # per-image limit (https://platform.openai.com/docs/guides/images-vision).
    max_image_bytes: Bytes = 10 * 1024 * 1024
    # Largest text file inlined: 32 KiB is ~8,000 tokens, half the default context budget.
    max_text_file_bytes: Bytes = 32 * 1024
    # REST base, e.g. http://127.0.0.1:8082/api/v10 (None: discord.py's https://discord.com/api/v10).
    # Also read as DISCORD_API_BASE_URL.
    api_base: Url | None = None
    # Gateway websocket URL, e.g. ws://127.0.0.1:8082/gateway (None: Discord's own).
    # Also read as DISCORD_GATEWAY_URL.
    gateway_url: Url | None = None

    shard_count: int | None = Field(
        default=None,
        ge=1,
        description=(
            "shards the bot runs in all (every process the same); unset: the number "
            "Discord recommends, all in this process"
        ),
    )
    shard_ids: list[int] | None = Field(
        default=None,
        description=(
            "the shards this process runs, e.g. `[0, 1]` (needs `DISCORD__SHARD_COUNT`; "
            "unset: all of them)"
        ),
    )

    @field_validator("shard_ids")
    @classmethod
    def _shards_of_the_count(
        cls, value: list[int] | None, info: ValidationInfo
    ) -> list[int] | None:
        if value is None:
            return None
        if "shard_count" not in info.data:
            return value  # DISCORD__SHARD_COUNT itself is wrong, and said so
        count = info.data["shard_count"]
        if count is None:
            raise ValueError(wording.shard_ids_without_count())
        if not value or len(set(value)) != len(value) or not all(0 <= i < count for i in value):
            raise ValueError(wording.shard_ids_out_of_range(count))
        return value

    @field_validator("api_base")
    @classmethod
    def _http_base(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("gateway_url")
    @classmethod
    def _websocket_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return value


# The bot scopes of adapters/slack/manifest.json (tests/slack/test_manifest.py keeps them equal).
BOT_SCOPES = (
    "app_mentions:read",
    "assistant:write",
    "channels:history",
    "chat:write",
    "commands",
    "files:read",
    "files:write",
    "groups:history",
    "im:history",
    "im:read",
    "im:write",
    "users:read",
)


class SlackSettings(BaseModel):
    bot_token: Secret | None = None
    app_token: Secret | None = None
    signing_secret: Secret | None = None
    native_streaming: bool = True
    # 0 picks a free port (tests).
    http_port: int = Field(default=3000, ge=0, le=65_535)
    # Web API base URL, trailing slash kept (slack_sdk joins method names onto it).
    # Also read as SLACK_API_BASE_URL.
    api_url: Url = "https://slack.com/api/"
    # Interface the HTTP-mode server (POST /slack/events) listens on.
    http_host: str = Field(default="0.0.0.0", min_length=1)
    # Seconds between chat.appendStream calls of one answer: tokens are coalesced.
    stream_append_interval: float = Field(default=1.0, ge=0)
    # chat.appendStream is Tier 4 (100+/min per app per workspace), shared by all answers.
    stream_appends_per_minute: Count = 100
    # Slack ends a stream ~5 min after it starts: continue in a new message before that.
    stream_rollover_seconds: Seconds = 270.0
    # Markdown characters per streamed message (markdown_text takes 12,000).
    stream_max_chars: int = Field(default=12_000, ge=100, le=12_000)
    # Earlier thread messages read on a first mention (non-Marketplace cap: 15 per call).
    history_import_messages: int = Field(default=15, ge=0)
    # Seconds between conversations.replies calls, the thread import's and the catch-up's
    # at start (commercially distributed non-Marketplace apps: ~1 per minute).
    history_import_interval: float = Field(default=60.0, ge=0)
    # Seconds a delivery (event_id; team, channel and ts) is remembered to drop Slack's
    # repeats; Slack retries three times within about 5 minutes.
    dedup_seconds: Seconds = 3_600.0
    # Largest image read: as base64 (x4/3) 10 MiB stays under OpenAI's 20 MB per-image limit.
    max_image_bytes: Bytes = 10 * 1024 * 1024
    # Largest text file inlined: 32 KiB is ~8,000 tokens, half the default context budget.
    max_text_file_bytes: Bytes = 32 * 1024
    # Access, as on Discord (bot/access.py): a block always wins; an empty allow-list
    # allows everyone. Ids are Slack's: T… teams, C…/G… channels, U…/W… users.
    allowed_team_ids: list[str] = Field(
        default_factory=list,
        description="workspaces (team ids) it answers in (empty: every workspace)",
    )
    blocked_team_ids: list[str] = Field(
        default_factory=list, description="workspaces it never answers in, DMs included"
    )
    allowed_channel_ids: list[str] = Field(
        default_factory=list,
        description="channels it answers in (empty: every channel); a thread counts as its channel",
    )
    blocked_channel_ids: list[str] = Field(
        default_factory=list, description="channels it never answers in, their threads included"
    )
    allowed_user_ids: list[str] = Field(
        default_factory=list, description="users who may use it (empty: everyone)"
    )
    blocked_user_ids: list[str] = Field(
        default_factory=list, description="users who are ignored everywhere, DMs included"
    )
    allow_dms: bool = Field(
        default=True, description="answer direct messages (there the team and user lists apply)"
    )
    admin_user_ids: list[str] = Field(
        default_factory=list,
        description=(
            "users who may change a channel's `/model` and `/system` "
            "(besides workspace admins and owners)"
        ),
    )

    # Distribution (OAuth installs): with both, HTTP mode serves Bolt's /slack/install and
    # /slack/oauth_redirect and keeps each workspace's install in the database.
    # Also read as SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (Bolt's names).
    client_id: str | None = Field(default=None, min_length=1)
    client_secret: Secret | None = None
    # Bot scopes asked for on install (the manifest's).
    scopes: list[str] = Field(default_factory=lambda: list(BOT_SCOPES), min_length=1)
    # The Redirect URL set in the app's OAuth settings (default: the one Slack has).
    redirect_uri: Url | None = None
    # Seconds an install link (its signed OAuth state) stays usable; each is used once.
    install_link_seconds: Seconds = 600.0

    @field_validator("bot_token")
    @classmethod
    def _not_the_app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().startswith("xapp-"):
            raise ValueError(wording.slack_bot_token_is_app_token())
        return value

    @field_validator("app_token")
    @classmethod
    def _not_a_bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().startswith(("xoxb-", "xoxp-")):
            raise ValueError(wording.slack_app_token_is_bot_token())
        return value

    @field_validator("api_url")
    @classmethod
    def _keep_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value if value.endswith("/") else value + "/"


class ImageSettings(BaseModel):
    """Images in and out (``IMAGES__*``); the vision and image models are in ``UPSTREAM__``."""

    # Largest image read or downloaded; as base64 (x4/3) 10 MiB stays under OpenAI's
    # 20 MB per-image limit (https://platform.openai.com/docs/guides/images-vision).
    max_image_bytes: Bytes = 10 * 1024 * 1024
    # Most images one message may carry.
    max_images_per_message: int = Field(default=4, ge=0)
    # The newest images of a thread sent with each answer ("make the hat red").
    context_images: int = Field(default=4, ge=0)
    # Send an image as its platform URL (not a data: URL) when the URL needs no
    # credentials and stays valid at least ``url_min_lifetime`` more seconds.
    send_urls: bool = True
    url_min_lifetime: float = Field(default=3_600.0, ge=0)
    # Seconds for one whole download (connect, headers and body).
    fetch_timeout: Seconds = 20.0
    # Fetch links to private, loopback, link-local and reserved addresses (tests only).
    allow_private_addresses: bool = False
    # Image bytes live in content-addressed files here (default: ``<database>.images``).
    store_dir: Path | None = None
    # Total size of that folder; the least recently used images are evicted past it.
    store_max_bytes: Bytes = 512 * 1024 * 1024
    # Where ``threadline ask`` and ``chat`` save the images a model makes.
    output_dir: Path = Path("threadline-images")


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
