"""Settings refused at start-up: each problem names its variable and says what
it takes (bot/setting_names.py)."""

from __future__ import annotations


def settings_not_valid(problems: list[str]) -> str:
    """Start-up refused: each problem names its variable and says what it takes."""
    return "The configuration is not valid: " + "; ".join(problems) + "."


def setting_problem(name: str, where: str, rule: str) -> str:
    inside = f" (at {where})" if where else ""
    return f"{name}{inside} {rule}"


def setting_rule(kind: str, ctx: dict[str, object], message: str) -> str:
    """What a value must be, from pydantic's error type (``greater_than_equal`` …)."""

    def num(key: str) -> str:
        value = ctx.get(key)
        return f"{value:g}" if isinstance(value, float) else str(value)

    rules = {
        "greater_than_equal": f"must be at least {num('ge')}",
        "greater_than": f"must be more than {num('gt')}",
        "less_than_equal": f"must be at most {num('le')}",
        "less_than": f"must be less than {num('lt')}",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "bool_parsing": "must be true or false",
        "literal_error": f"must be one of {ctx.get('expected')}",
        "string_too_short": "must not be empty",
        "dict_type": "must be a JSON object",
        "list_type": "must be a JSON list",
        "missing": "is required",
    }
    return rules.get(kind, message.removeprefix("Value error, "))


def setting_not_json(name: str, *, is_list: bool) -> str:
    example = "[123, 456]" if is_list else '{"my-model": {"vision": true, "context_tokens": 8192}}'
    return f"{name} must be written as JSON, for example {name}={example}"


def unknown_setting(name: str, suggestion: str | None, section: str) -> str:
    if suggestion:
        return f"{name} is not a setting (did you mean {suggestion}?)"
    return f"{name} is not a setting of {section}__ (the settings table in the README lists them)"


def single_underscore_setting(name: str, nested: str) -> str:
    return f"{name} is not read: nested settings take two underscores, {nested}"


def shard_ids_without_count() -> str:
    return "needs DISCORD__SHARD_COUNT too: set it to the number of shards across all processes"


def shard_ids_out_of_range(count: int) -> str:
    return (
        f"must be a JSON list of different shard numbers from 0 to {count - 1} "
        f"(DISCORD__SHARD_COUNT is {count}), such as [0]"
    )


def slack_bot_token_is_app_token() -> str:
    return (
        "holds the app-level token (xapp-…), which belongs in SLACK_APP_TOKEN; the bot token "
        "starts with xoxb- (OAuth & Permissions in the app's settings)"
    )


def slack_app_token_is_bot_token() -> str:
    return (
        "holds a bot or user token (xoxb-…), which belongs in SLACK_BOT_TOKEN; the app-level "
        "token starts with xapp- (Basic Information → App-Level Tokens)"
    )


def settings_unreadable() -> str:
    return "a setting could not be read; check the values written as JSON"


def redis_url_not_valid() -> str:
    return "must be a redis://, rediss:// or unix:// URL, e.g. redis://localhost:6379/0"


def storage_url_unknown(scheme: str) -> str:
    return (
        f"must start with postgresql:// or sqlite:/// (not {scheme!r}), for example "
        "postgresql://user:password@host:5432/threadline or sqlite:///threadline.db"
    )
