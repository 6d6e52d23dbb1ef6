"""``DISCORD__*`` and ``SLACK__*``: tokens, endpoints, access lists and platform budgets."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator

from bot import wording
from bot.settings.fields import Bytes, Count, Seconds, Secret, Url


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
