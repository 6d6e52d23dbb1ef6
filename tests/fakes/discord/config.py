"""Knobs of the fake: identities, limits and timings a test may change.

Every default is Discord's documented (or, where Discord documents nothing,
observed) value; tests shorten the timings so they finish fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from .limits import DEFAULT_UPLOAD_LIMIT


@dataclass(frozen=True)
class ChannelSpec:
    """A guild text channel created at start-up (type 0, GUILD_TEXT)."""

    name: str


@dataclass(frozen=True)
class GuildSpec:
    """A guild the bot is a member of, announced by GUILD_CREATE after READY."""

    name: str = "threadline-test"
    channels: tuple[ChannelSpec, ...] = (ChannelSpec("general"), ChannelSpec("random"))
    # The shard (of FakeConfig.shards) the guild's id falls on; None: wherever
    # the next snowflake lands.
    shard: int | None = None


@dataclass(frozen=True)
class FakeConfig:
    """Everything configurable about one fake Discord.

    Timings are in seconds unless the name says otherwise.
    """

    token: str = "fake-bot-token"
    bot_name: str = "threadline"
    humans: tuple[str, ...] = ("alice", "bob")
    guilds: tuple[GuildSpec, ...] = (GuildSpec(),)

    # Gateway: Discord's HELLO carries heartbeat_interval=41250 ms today.
    # https://discord.com/developers/docs/events/gateway#sending-heartbeats
    heartbeat_interval_ms: int = 41_250
    # Privileged intents the "developer portal" has switched on; IDENTIFY asking
    # for another one is closed with 4014 (Disallowed intent(s)).
    # https://discord.com/developers/docs/events/gateway#privileged-intents
    privileged_intents_enabled: bool = True
    # Dispatches kept per session for RESUME replay.
    resume_buffer: int = 1_000
    # Sharding (shards.py): GET /gateway/bot's recommended `shards` and its
    # session_start_limit; one IDENTIFY per `shard_id % max_concurrency` bucket
    # per `identify_interval` s (Discord: 5 s). A faster one is counted
    # (`identify_too_fast`) and, with `refuse_fast_identify`, answered op 9
    # INVALID_SESSION as Discord does; off by default, so that a test restarting
    # the bot within 5 s does not wait for its second IDENTIFY.
    # https://discord.com/developers/docs/events/gateway#sharding-max-concurrency
    shards: int = 1
    max_concurrency: int = 1
    identify_interval: float = 5.0
    refuse_fast_identify: bool = False
    session_start_total: int = 1_000

    # REST rate limits. The per-channel message bucket (create/edit/delete share
    # it) is undocumented; 5 per 5 s is what bots observe in X-RateLimit-* headers.
    message_bucket_limit: int = 5
    message_bucket_period: float = 5.0
    # "All bots can make up to 50 requests per second to our API."
    # https://discord.com/developers/docs/topics/rate-limits#global-rate-limit
    global_limit: int = 50
    global_period: float = 1.0
    # Every other route gets its own generous bucket, so headers are always there.
    route_bucket_limit: int = 50
    route_bucket_period: float = 1.0

    # Interactions: "you must send an initial response within 3 seconds";
    # "Interaction tokens are valid for 15 minutes".
    # https://discord.com/developers/docs/interactions/receiving-and-responding
    interaction_ack_deadline: float = 3.0
    interaction_token_ttl: float = 15 * 60.0

    # Signed CDN URLs (ex/is/hm) expire; Discord issues them for ~24 h.
    # https://discord.com/developers/docs/reference#signed-attachment-cdn-urls
    attachment_url_ttl: float = 24 * 3600.0
    # Default upload cap: 10 MiB per file.
    # https://discord.com/developers/docs/reference#uploading-files
    upload_limit: int = DEFAULT_UPLOAD_LIMIT
    # False: Start Thread answers 403 Missing Permissions (50013), as for a bot
    # without Create Public Threads in the channel.
    threads_allowed: bool = True
