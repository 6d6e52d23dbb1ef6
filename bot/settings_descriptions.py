"""What each setting means, in the words docs/settings.md shows (bot/settings_doc.py renders them).

Kept apart from the rendering: these are facts to read and edit, keyed by variable
name; names, defaults and ranges come from the model itself (bot/settings/). A
``Field(description=...)`` in the model wins over an entry here.
"""

from __future__ import annotations

# A line under each section's heading: what the section is for.
SECTIONS: dict[str, str] = {
    "upstream": "The chat-completion API: where it is, which models, how long to wait.",
    "storage": "The SQLite file that holds every conversation.",
    "limits": "How much history an answer sees, and how many answers run at once.",
    "quota": (
        "Cost and abuse controls, checked by `threadline run` before the model is asked "
        "(the terminal commands are the operator's own and skip them); 0 turns a control off. "
        "Rates are token buckets kept in SQLite: a burst of that many messages, refilled at "
        "that rate. Daily quotas count the tokens of answers since 00:00 UTC."
    ),
    "discord": (
        "Discord (docs/discord.md). Lists are JSON: `DISCORD__BLOCKED_USER_IDS=[123456789012345678]`. "
        "A block always wins; an empty allow-list allows everyone; a person passes on the "
        "user list **or** an allowed role; a thread counts as its parent channel."
    ),
    "slack": "Slack (docs/slack.md).",
    "images": "Images in and out; the vision and image models are `UPSTREAM__*` settings.",
    "logging": "Logs never carry message text unless `LOGGING__LOG_MESSAGE_CONTENT` is on.",
    "ops": "The operations endpoint of `threadline run`: `GET /healthz` and `GET /metrics`.",
}

DESCRIPTIONS: dict[str, str] = {
    "UPSTREAM__BASE_URL": (
        "the API's base URL, the part before `/chat/completions` (which is appended)"
    ),
    "UPSTREAM__API_KEY": "the API key (required); local servers accept anything non-empty",
    "UPSTREAM__DEFAULT_MODEL": "model for threads that have not chosen one",
    "UPSTREAM__VISION_MODEL": (
        "answers messages with images when the thread's model cannot read them"
    ),
    "UPSTREAM__IMAGE_MODEL": "the image-making model (`/image`, `threadline ask --image-model`)",
    "UPSTREAM__MAX_TOKENS": "`max_tokens` for every answer",
    "UPSTREAM__TEMPERATURE": "`temperature`, 0 to 2; anything else stops start-up with a sentence",
    "UPSTREAM__TIMEOUT_CONNECT": "seconds to open a connection",
    "UPSTREAM__TIMEOUT_FIRST_TOKEN": "seconds from the request to the first text",
    "UPSTREAM__TIMEOUT_IDLE": "longest silence between two reads of a stream, in seconds",
    "UPSTREAM__RETRY_ATTEMPTS": (
        "tries for a 429, 5xx or connection failure, before the first token only "
        "(exponential backoff with jitter, honouring `Retry-After`)"
    ),
    "UPSTREAM__RETRY_MAX_SECONDS": "total time spent waiting between tries",
    "UPSTREAM__HTTP_TRANSPORT": (
        "`aiohttp` (httpx-aiohttp: aiohttp's C parser, cheaper per streamed chunk) "
        "or `httpcore` (httpx's own transport)"
    ),
    "UPSTREAM__READ_INTERVAL": (
        "after the first words, read a slow stream at most this often (seconds; 0: every "
        "token as it comes); what arrives meanwhile waits in the socket and comes as one "
        "piece. Platforms show an edit about once a second"
    ),
    "UPSTREAM__MODELS": (
        'the model catalog, JSON: `{"name": {"vision": bool, "image_output": bool, '
        '"browsing": bool, "file_input": bool, "context_tokens": int}}` (fields below). '
        "An unknown model is treated as text-only, never guessed from its name"
    ),
    "STORAGE__PATH": "the SQLite file",
    "STORAGE__BUSY_TIMEOUT_MS": "how long a write waits for another process, in milliseconds",
    "STORAGE__FLUSH_INTERVAL": "seconds between writes of a streaming answer",
    "LIMITS__SYSTEM_PROMPT": "the system prompt; `{date}` is replaced by today's date",
    "LIMITS__CONTEXT_TOKENS": (
        "the history budget per answer, in tokens (also capped by the model's context)"
    ),
    "LIMITS__MAX_HISTORY_TURNS": "at most this many turns of history",
    "LIMITS__MAX_CONCURRENT_REPLIES": "answers streaming at once; more wait their turn",
    "LIMITS__SHUTDOWN_GRACE_SECONDS": (
        "on SIGTERM or SIGINT, seconds the answers in flight get to finish before they are "
        "stopped (kept as interrupted); new messages are not taken meanwhile"
    ),
    "LIMITS__REASK_WITHIN_SECONDS": (
        "at start, questions left unanswered by a crash or stop, and messages sent while "
        "threadline was down, are answered if asked this recently (0: none are)"
    ),
    "QUOTA__USER_PER_MINUTE": (
        "messages one person may send a minute (a burst of that many, refilled at that rate)"
    ),
    "QUOTA__CHANNEL_PER_MINUTE": (
        "messages one channel may send a minute, all its people and threads together"
    ),
    "QUOTA__USER_DAILY_TOKENS": "tokens one person's answers may use per UTC day",
    "QUOTA__WORKSPACE_DAILY_TOKENS": (
        "tokens one Discord server or Slack workspace may use per UTC day"
    ),
    "QUOTA__USER_MAX_IN_FLIGHT": (
        "questions one person may have waiting or being answered at once"
    ),
    "QUOTA__MAX_IN_FLIGHT": "questions waiting or being answered at once, everyone together",
    "DISCORD__TOKEN": "the Discord bot token",
    "DISCORD__ANSWER_IN_THREAD": "a mention opens a thread (false: answer in place)",
    "DISCORD__DEV_GUILD_ID": "sync slash commands to this server instantly (development)",
    "DISCORD__ALLOWED_GUILD_IDS": "servers it answers in (empty: every server it is in)",
    "DISCORD__BLOCKED_GUILD_IDS": "servers it never answers in",
    "DISCORD__ALLOWED_CHANNEL_IDS": (
        "channels or categories it answers in; a thread counts as its parent"
    ),
    "DISCORD__BLOCKED_CHANNEL_IDS": (
        "channels or categories it never answers in, threads under them included"
    ),
    "DISCORD__ALLOWED_ROLE_IDS": "members with one of these roles may use it",
    "DISCORD__BLOCKED_ROLE_IDS": "members with one of these roles are ignored",
    "DISCORD__ALLOWED_USER_IDS": "users who may use it",
    "DISCORD__BLOCKED_USER_IDS": "users who are ignored everywhere, direct messages included",
    "DISCORD__ALLOW_DMS": "answer direct messages (there only the user lists apply)",
    "DISCORD__MAX_IMAGE_BYTES": (
        "largest image read (Discord's default upload cap; as base64 it stays under "
        "OpenAI's 20 MB per-image limit)"
    ),
    "DISCORD__MAX_TEXT_FILE_BYTES": "largest text file inlined (~8,000 tokens)",
    "DISCORD__API_BASE": (
        "another Discord-compatible REST base, e.g. the loopback fake's "
        "`http://127.0.0.1:8082/api/v10` (unset: Discord's own)"
    ),
    "DISCORD__GATEWAY_URL": (
        "another gateway websocket URL, e.g. `ws://127.0.0.1:8082/gateway` (unset: Discord's own)"
    ),
    "SLACK__BOT_TOKEN": "the Bot User OAuth Token (`xoxb-…`)",
    "SLACK__APP_TOKEN": ("the app-level token (`xapp-…`, scope `connections:write`): Socket Mode"),
    "SLACK__SIGNING_SECRET": (
        "the signing secret: HTTP mode (used when `SLACK_APP_TOKEN` is unset)"
    ),
    "SLACK__CLIENT_ID": (
        "the app's Client ID: with the client secret, HTTP mode serves "
        "`/slack/install` and `/slack/oauth_redirect` and answers every workspace that installs it"
    ),
    "SLACK__CLIENT_SECRET": "the app's Client Secret (Basic Information page)",
    "SLACK__SCOPES": "bot scopes asked for on install, a JSON list (default: the manifest's)",
    "SLACK__REDIRECT_URI": (
        "the Redirect URL of the app's OAuth settings, e.g. "
        "`https://bot.example.com/slack/oauth_redirect` (unset: the one set at Slack)"
    ),
    "SLACK__INSTALL_LINK_SECONDS": (
        "seconds an install link stays usable (its signed OAuth state, good for one install)"
    ),
    "SLACK__NATIVE_STREAMING": "use Slack's `chat.startStream` where the app may",
    "SLACK__HTTP_PORT": "port for HTTP mode (`POST /slack/events`)",
    "SLACK__API_URL": (
        "Web API base (keep the trailing slash), e.g. the loopback fake's "
        "`http://127.0.0.1:8083/api/`"
    ),
    "SLACK__HTTP_HOST": "interface HTTP mode listens on",
    "SLACK__STREAM_APPEND_INTERVAL": "seconds between `chat.appendStream` calls of one answer",
    "SLACK__STREAM_APPENDS_PER_MINUTE": "Tier 4 budget shared by all streamed answers",
    "SLACK__STREAM_ROLLOVER_SECONDS": (
        "continue in a new message before Slack ends a stream (about 5 minutes after it starts)"
    ),
    "SLACK__STREAM_MAX_CHARS": "markdown characters per streamed message",
    "SLACK__HISTORY_IMPORT_MESSAGES": "earlier thread messages read on a first mention",
    "SLACK__HISTORY_IMPORT_INTERVAL": (
        "seconds between `conversations.replies` calls (the thread import's and the catch-up's "
        "at start), and between the catch-up's `conversations.history` calls (commercially "
        "distributed apps outside the Marketplace: about one a minute each)"
    ),
    "SLACK__DEDUP_SECONDS": (
        "seconds a delivery is remembered to drop Slack's retries and the `message` copy of "
        "an `app_mention` (shared by every worker with `REDIS_URL`)"
    ),
    "SLACK__MAX_IMAGE_BYTES": "largest shared image read (PNG, JPEG, WebP, GIF)",
    "SLACK__MAX_TEXT_FILE_BYTES": "largest shared text file put into the question",
    "IMAGES__MAX_IMAGE_BYTES": "largest image read or downloaded",
    "IMAGES__MAX_IMAGES_PER_MESSAGE": "most images one message may carry",
    "IMAGES__CONTEXT_IMAGES": (
        "the thread's newest images (including images the model made) sent with every answer, "
        'so "make the hat red" works on an earlier image'
    ),
    "IMAGES__SEND_URLS": (
        "send an image as its platform URL (not a base64 `data:` URL) when that URL needs no "
        "credentials and stays valid for `IMAGES__URL_MIN_LIFETIME` seconds"
    ),
    "IMAGES__URL_MIN_LIFETIME": "seconds a platform URL must stay valid to be sent as a URL",
    "IMAGES__FETCH_TIMEOUT": "seconds for one whole download (connect, headers and body)",
    "IMAGES__ALLOW_PRIVATE_ADDRESSES": (
        "fetch links to private, loopback, link-local and reserved addresses (the tests set it)"
    ),
    "IMAGES__STORE_DIR": (
        "image bytes live in content-addressed files here (unset: `<database>.images/`)"
    ),
    "IMAGES__STORE_MAX_BYTES": (
        "total size of that folder; the least recently used images are evicted past it"
    ),
    "IMAGES__OUTPUT_DIR": "where `threadline ask` and `chat` save the images a model makes",
    "LOGGING__LEVEL": "log level",
    "LOGGING__FORMAT": "`plain` or `json`",
    "LOGGING__LOG_MESSAGE_CONTENT": "logs never carry message text unless this is on",
    "OPS__PORT": ("the endpoint's port; `off` disables it (`0` picks a free one, for tests)"),
    "OPS__HOST": "interface it listens on",
    "OPS__UPSTREAM_TIMEOUT": "seconds for the upstream connect (and the database read)",
    "OPS__UPSTREAM_CACHE_SECONDS": "how long an upstream check is reused",
}

MODEL_SPEC_DESCRIPTIONS: dict[str, str] = {
    "vision": "reads images",
    "image_output": "makes images (answers carry image links, posted as files)",
    "browsing": "searches the web (its answers keep their links)",
    "file_input": "takes files as `file_url` inputs (the thread's recent images go with it)",
    "image_input_required": "cannot answer without an input image (an edit-only image model)",
    "context_tokens": "the model's context window, in tokens; caps the history budget",
}
