"""Start-up and `threadline check`: which platform runs, what is missing, the
databases and Redis, and the container probe (python -m bot.probe)."""

from __future__ import annotations


def no_platform_configured() -> str:
    return (
        "No chat platform is configured. Set DISCORD_TOKEN for Discord, or SLACK_BOT_TOKEN "
        "with SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode) for Slack. "
        "`threadline chat` talks to the model from this terminal without either."
    )


def platform_not_configured(platform: str) -> str:
    names = {
        "discord": "DISCORD_TOKEN",
        "slack": "SLACK_BOT_TOKEN with SLACK_APP_TOKEN or SLACK_SIGNING_SECRET",
    }
    return (
        f"`threadline run --platform {platform}` needs {platform.title()}'s credentials: "
        f"set {names[platform]}, or leave out --platform {platform}."
    )


def missing_api_key() -> str:
    return (
        "OPENAI_API_KEY is not set. Put it in the environment or in a .env file "
        "(OPENAI_API_KEY=sk-...), and OPENAI_BASE_URL if you use a compatible server."
    )


def env_file_missing(path: str) -> str:
    return f"The settings file {path} does not exist; check the --env-file path."


def running_on(platforms: list[str]) -> str:
    return f"threadline is answering on {' and '.join(platforms)}. Ctrl-C (or SIGTERM) stops it."


def slack_no_bot_token() -> str:
    return "SLACK_BOT_TOKEN is not set: threadline needs the bot token (xoxb-…) to talk to Slack."


def slack_no_connection_mode() -> str:
    return (
        "Slack needs a way to deliver events: set SLACK_APP_TOKEN (xapp-…) for Socket Mode, "
        "or SLACK_SIGNING_SECRET for HTTP mode (Slack posts to /slack/events)."
    )


def slack_oauth_half_set() -> str:
    return (
        "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together: set both (from the app's "
        "Basic Information page) to let workspaces install it, or neither."
    )


def slack_oauth_needs_http_mode() -> str:
    return (
        "Installing the app by OAuth needs HTTP mode: set SLACK_SIGNING_SECRET and unset "
        "SLACK_APP_TOKEN, so that Slack can reach /slack/install and /slack/oauth_redirect."
    )


def database_not_writable(path: str, reason: str) -> str:
    return (
        f"threadline cannot write its database {path} ({reason}); give it write access "
        "to the file and its folder, or point STORAGE__PATH elsewhere."
    )


def database_folder_missing(path: str, folder: str) -> str:
    return (
        f"The folder {folder} for the database {path} does not exist; create it or "
        "point STORAGE__PATH elsewhere."
    )


def redis_unreachable(where: str, refused_password: bool) -> str:
    reason = "it refused the password" if refused_password else "it did not answer"
    return (
        f"threadline cannot use the Redis server at {where} ({reason}); start it, or fix "
        "REDIS_URL (redis://[:password@]host:port/db), or unset REDIS_URL to run one process."
    )


def postgres_newer_schema(where: str, found: int, known: int) -> str:
    return (
        f"The PostgreSQL database {where} has schema version {found}, but this threadline "
        f"only knows versions up to {known}: it was written by a newer threadline. Upgrade "
        "threadline, or point STORAGE__URL at another database."
    )


def postgres_unreachable(where: str, reason: str) -> str:
    return (
        f"threadline cannot use the PostgreSQL database {where} ({reason}); check that the "
        "server runs and that STORAGE__URL names its host, port, database, user and password."
    )


def probe_no_endpoint(url: str, reason: str) -> str:
    return (
        f"unhealthy: no answer from {url} ({reason}). Is `threadline run` running, "
        "and is OPS__PORT the port it serves on?"
    )


def probe_platforms_unseen() -> str:
    return (
        "not checked: OPS__PORT is off, so the running process cannot be asked; "
        "set OPS__PORT to have its platform connections checked too"
    )


def probe_no_database(path: str) -> str:
    return (
        f"error: there is no database at {path} (has `threadline run` started? check STORAGE__PATH)"
    )


def probe_no_database_server(where: str, reason: str) -> str:
    return f"error: the database server of {where} does not answer ({reason}); check STORAGE__URL"
