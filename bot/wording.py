"""Every sentence a user or operator reads, in one place to review and translate.

Sentences say what happened and what to do next. Functions, not constants, where
a sentence carries a value.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.allowance import UsageReport

IN_PROGRESS_MARKER = " ⏳"
THINKING_PLACEHOLDER = "⏳ thinking…"
EMPTY_ANSWER = "(The model returned an empty answer.)"


def queued() -> str:
    """The placeholder of an answer waiting for a free slot (nobody waits unseen)."""
    return "⏳ queued: many people are asking right now; your answer starts in a moment…"


def still_waiting(seconds: int) -> str:
    """The placeholder of an answer whose model has not begun after ``seconds``."""
    return f"⏳ still waiting for the model ({seconds} s); the answer starts when it does…"


_UPSTREAM_BY_CODE = {
    "invalid_token": (
        "The model service rejected threadline's API key (invalid_token). "
        "An operator needs to check OPENAI_API_KEY."
    ),
    "token_mismatched": (
        "The model service refused the request (token_mismatched): the API key does not "
        "match this model or endpoint. An operator needs to check OPENAI_API_KEY and the model."
    ),
    "api_not_implemented": (
        "The model service does not offer this model or feature (api_not_implemented). "
        "Try another model with /model."
    ),
    "too_many_requests": (
        "The model service is rate limiting threadline (too_many_requests). "
        "Please try again in a minute."
    ),
    "api_error": "The model service had an internal error (api_error). Please try again.",
    "timeout": "The model service did not answer in time. Please try again.",
    "connect_failed": (
        "threadline could not reach the model service. Please try again; "
        "if it keeps happening, an operator needs to check OPENAI_BASE_URL."
    ),
    "bad_response": (
        "The model service sent a response threadline could not read. Please try again; "
        "if it keeps happening, an operator needs to check OPENAI_BASE_URL."
    ),
    "truncated": (
        "The model service stopped in the middle of the answer. "
        "What arrived is shown above; ask again to get the rest."
    ),
    "connection_closed": (
        "The model service closed the connection before answering. Please try again; "
        "if it keeps happening, an operator needs to check OPENAI_BASE_URL."
    ),
}


def upstream_error(kind: str, code: str, trace_id: str | None, *, url: str = "") -> str:
    """The chat-visible sentence for a failed upstream call: ours, with the code and trace id.

    The server's own message is never shown (it may quote the API key, masked or
    not); it goes to the log. ``url`` is the endpoint tried (our own setting, without
    credentials), shown only when the endpoint itself is missing. A code or trace id that is not a short plain token is not
    shown either: they come from the server too.
    """
    shown = _plain_token(code) or "unknown_error"
    sentence = _UPSTREAM_BY_CODE.get(shown)
    if shown == "no_chat_completions":  # url: the one tried, our own setting without credentials
        sentence = no_chat_completions(url)
    elif sentence is None:
        if kind == "UpstreamAuthError":  # OpenAI's invalid_api_key, a proxy's own code
            sentence = (
                f"The model service rejected threadline's API key ({shown}). "
                "An operator needs to check OPENAI_API_KEY."
            )
        elif kind == "UpstreamBadRequest":
            sentence = (
                f"The model service refused the request ({shown}). Please try again; if it "
                "keeps happening, an operator can find the service's reason in the log."
            )
        else:
            sentence = f"The model service failed ({shown}). Please try again."
    trace = _plain_token(trace_id or "")
    if trace:
        sentence += f" (trace id: {trace})"
    return sentence


def no_chat_completions(url: str) -> str:
    """A 404 for the endpoint itself: the base URL is wrong, trying again will not help."""
    return (
        f"The model service has no chat completions at {url} (HTTP 404). An operator needs to "
        "check OPENAI_BASE_URL: it should end before /chat/completions, usually in /v1 "
        "(https://api.openai.com/v1)."
    )


def _plain_token(value: str) -> str:
    """``value`` if it looks like an error code or trace id (letters, digits, ``_.:-``,
    at most 64 characters), else ""."""
    if 0 < len(value) <= 64 and all(c.isascii() and (c.isalnum() or c in "_.:-") for c in value):
        return value
    return ""


def platform_busy(retry_after: float) -> str:
    return f"The chat platform asked threadline to slow down; retrying in {retry_after:.1f} s."


def temperature_out_of_range(value: float) -> str:
    return f"Temperature must be between 0 and 2; {value} is outside that range."


def context_trimmed(used: int) -> str:
    noun = "message" if used == 1 else "messages"
    return f"⚠️ Only the last {used} {noun} of this thread were used; older ones did not fit."


def question_cut(kept_bytes: int) -> str:
    return (
        f"⚠️ Your message and its files were too long for this thread's context budget "
        f"(LIMITS__CONTEXT_TOKENS): only the first {_kib(kept_bytes)} were sent to the model. "
        "Send a smaller file or the part that matters."
    )


def question_cut_marker() -> str:
    """Ends a question cut to fit, so the model knows it is not reading all of it."""
    return "[The rest of this message was cut: it did not fit the context budget.]"


def _kib(size: int) -> str:
    return f"{size / 1024:.0f} KB" if size >= 1024 else f"{size} bytes"


def interrupted_notice() -> str:
    return "⚠️ This answer was interrupted before it finished. Ask again to continue."


def cannot_save() -> str:
    """The thread's sentence when the database will not take a write (locked, full)."""
    return (
        "threadline cannot save messages right now (its database is busy or full), so "
        "this message was not answered. Please send it again in a minute."
    )


def answer_not_shown() -> str:
    """The thread's sentence for an answer the platform would not take, once it is back."""
    return (
        "⚠️ threadline wrote an answer here but could not show it: the chat platform "
        "kept failing. Ask again to get it."
    )


def stopped_notice() -> str:
    return "⏹️ Stopped."


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


# Settings (start-up)


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


def env_file_missing(path: str) -> str:
    return f"The settings file {path} does not exist; check the --env-file path."


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


def coordination_unavailable() -> str:
    return "threadline cannot reach its shared state right now. Please try again in a moment."


def redis_url_not_valid() -> str:
    return "must be a redis://, rediss:// or unix:// URL, e.g. redis://localhost:6379/0"


def unknown_thread(name: str) -> str:
    return f"No thread {name!r} is stored; `threadline threads` lists the stored ones."


def no_threads_stored() -> str:
    return "No conversations are stored yet."


def settings_unreadable() -> str:
    return "a setting could not be read; check the values written as JSON"


def empty_prompt() -> str:
    return "There is nothing to answer: write a question after the mention."


def after(seconds: float) -> str:
    """ "in 12 seconds", "in 4 minutes", "in 3 h 12 min": rounded up, never "in 0"."""
    whole = max(1, math.ceil(seconds))
    if whole < 60:
        return f"in {whole} second{'s' if whole != 1 else ''}"
    minutes = math.ceil(whole / 60)
    if minutes < 60:
        return f"in {minutes} minute{'s' if minutes != 1 else ''}"
    return f"in {minutes // 60} h {minutes % 60} min"


def user_rate(per_minute: int, wait: float) -> str:
    return (
        f"You're sending messages faster than I answer them here ({per_minute} a minute). "
        f"Please ask again {after(wait)}."
    )


def channel_rate(per_minute: int, wait: float) -> str:
    return (
        f"This channel is sending me more than {per_minute} messages a minute. "
        f"Please ask again {after(wait)}."
    )


def user_quota_spent(quota: int, renews_in: float) -> str:
    return (
        f"You've used your {quota:,} tokens for today. "
        f"Your quota renews at 00:00 UTC, {after(renews_in)}."
    )


def workspace_quota_spent(quota: int, renews_in: float) -> str:
    return (
        f"This workspace has used its {quota:,} tokens for today. "
        f"The quota renews at 00:00 UTC, {after(renews_in)}."
    )


def user_in_flight(limit: int) -> str:
    questions = "question" if limit == 1 else "questions"
    return (
        f"You already have {limit} {questions} waiting for an answer. "
        "Please ask again when one of them is done."
    )


def all_in_flight() -> str:
    return "I'm answering as many questions as I can right now. Please ask again in a minute."


def usage_report(report: UsageReport, place: str) -> str:
    """``/usage``: today's tokens as the quotas count them; ``place`` is "server" or "workspace"."""

    def of(used: int, quota: int, estimated: int) -> str:
        figure = f"{used:,} of {quota:,}" if quota else f"{used:,}"
        # Exact figures are the server's; estimates are threadline's (no usage reported).
        return f"{figure} ({estimated:,} estimated)" if estimated else figure

    where = [
        f"{of(report.mine, report.user_quota, report.mine_estimated)} by you",
        f"{of(report.channel, 0, report.channel_estimated)} in this channel",
    ]
    if report.workspace is not None:
        figure = of(report.workspace, report.workspace_quota, report.workspace_estimated)
        where.append(f"{figure} in this {place}")
    sentence = f"Tokens used today (UTC): {', '.join(where)}."
    if report.user_quota or report.workspace_quota:
        sentence += f" Quotas renew at 00:00 UTC, {after(report.renews_in)}."
    return sentence


def busy_try_later() -> str:
    return "threadline is answering too many questions right now. Please try again in a minute."


def n_out_of_range(value: int, most: int | None = None) -> str:
    if most is None:
        return f"n (how many answers to generate) must be 1 or more; {value} is not."
    return f"n (how many answers to compare) must be between 1 and {most}; {value} is not."


# -- parameters (/settings, /ask options, terminal flags: bot/params.py) ----------------


def max_tokens_out_of_range(value: int, context: int) -> str:
    return f"max_tokens must be between 1 and {context} (this model's context); {value} is not."


def response_format_unknown(value: str, known: tuple[str, ...]) -> str:
    return f"response_format must be one of {', '.join(known)} (or json); {value} is not."


def params_unknown_word(word: str) -> str:
    return (
        f"I don't understand {word!r}. Write key=value words: temperature=0.7 "
        "max_tokens=500 format=json (or key=default to inherit again)."
    )


def params_not_a_number(name: str, raw: str) -> str:
    return f"{name} needs a number; {raw!r} is not one."


def params_nothing_to_change() -> str:
    return "Nothing to change: give at least one of temperature, max_tokens, response_format."


_PARAMS_HINT = {
    "discord": "/settings temperature:0.7 max_tokens:500 response_format:json_object",
    "slack": "/settings temperature=0.7 max_tokens=500 format=json",
    "console": "--temperature 0.7 --max-tokens 500 --json",
}


def params_shown(lines: list[tuple[str, object, str]], place: str, syntax: str) -> str:
    """Each parameter with its value and where it comes from ("here", "channel",
    the operator's default, or the model's own default when none is set)."""
    shown = []
    for name, value, source in lines:
        where = {"here": f"set for this {place}", "channel": "from the channel"}.get(
            source, "the default"
        )
        figure = "the model's default" if value is None else str(value)
        shown.append(f"{name}: {figure} ({where})")
    return f"Parameters here — {'; '.join(shown)}. Change them with {_PARAMS_HINT[syntax]}."


def params_changed(who: str, changes: dict[str, float | int | str | None], place: str) -> str:
    said = ", ".join(
        f"{name} back to the inherited value" if value is None else f"{name} to {value}"
        for name, value in changes.items()
    )
    return f"{who} set this {place}'s {said}."


def json_not_valid(reason: str) -> str:
    return f"⚠️ JSON was asked for, but this answer is not valid JSON ({reason})."


def candidate_heading(number: int, of: int) -> str:
    return f"**Candidate {number} of {of}**\n"


def candidate_notice(number: int, notice: str) -> str:
    return f"Candidate {number}: {notice}"


def candidate_kept(number: int) -> str:
    return f"✅ Kept candidate {number}: the conversation goes on from it."


def nothing_to_keep() -> str:
    return "That candidate is no longer stored, so there is nothing to keep."


def keep_prompt() -> str:
    return "Keep the candidate you like best: the conversation goes on from it."


def keep_label(number: int) -> str:
    return f"Keep {number}"


def params_cleared(who: str, place: str) -> str:
    return f"{who} cleared this {place}'s parameters: it inherits them again."


def model_switched(model: str, because: str) -> str:
    return f"ℹ️ Answered by {model}: {because}."


def unsupported_image(name: str) -> str:
    return f"{name} is not an image threadline can send; use PNG, JPEG, WebP or GIF."


def unreadable_file(name: str, reason: str) -> str:
    return f"Could not read {name} ({reason}); check the path and try again."


def nothing_to_regenerate() -> str:
    return "There is no answer here to regenerate; ask the question again instead."


# Access and conversation settings (/model, /system, /reset), one rule for every platform

# Who besides the people on *_ADMIN_USER_IDS may change a channel's settings: the one
# place the platforms differ (bot/conversation_settings.py).
_CHANNEL_ADMINS = {
    "discord": "members who can manage this channel",
    "slack": "workspace admins and owners",
}


def not_allowed() -> str:
    return "threadline is not available to you here; ask an admin if you think it should be."


def settings_need_admin(platform: str) -> str:
    admins = _CHANNEL_ADMINS.get(platform, "admins")
    return (
        f"Only {admins} (and the people threadline's operator named as admins) can change "
        "the model or system prompt here. You can still pick a model for one question "
        "with /ask."
    )


def unknown_model(name: str, known: list[str]) -> str:
    return f"threadline does not know the model `{name}`. Known models: {', '.join(known)}."


def model_shown(model: str, place: str, *, is_default: bool, known: list[str]) -> str:
    source = "the default" if is_default else "chosen here"
    return (
        f"This {place} uses `{model}` ({source}). Change it with /model followed by a name; "
        f"known models: {', '.join(known)}."
    )


def model_set(who: str, model: str, place: str) -> str:
    return f"{who} set this {place}'s model to `{model}`."


def system_shown(prompt: str | None, place: str) -> str:
    if prompt is None:
        return f"This {place} uses the default system prompt; set one with /system followed by it."
    return f"This {place}'s system prompt is: {prompt}"


def system_set(who: str, place: str) -> str:
    return f"{who} set this {place}'s system prompt; new answers follow it."


def system_cleared(who: str, place: str) -> str:
    return f"{who} put this {place} back on the default system prompt."


def reset_done(place: str) -> str:
    return f"Done: the next message in this {place} starts a fresh conversation."


def reset_in_channel() -> str:
    return (
        "A channel holds many conversations, and a new mention starts a fresh one. "
        "/reset clears the conversation of a thread or a direct message."
    )


# Slack

SLACK_THINKING_STATUS = "is thinking…"


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


def slack_not_installed() -> str:
    return "threadline is not installed in this Slack workspace any more, so it cannot reach it."


def slack_oauth_needs_http_mode() -> str:
    return (
        "Installing the app by OAuth needs HTTP mode: set SLACK_SIGNING_SECRET and unset "
        "SLACK_APP_TOKEN, so that Slack can reach /slack/install and /slack/oauth_redirect."
    )


def slack_auth_failed(code: str) -> str:
    return (
        f"Slack refused threadline's bot token ({code}). "
        "An operator needs to check SLACK_BOT_TOKEN and the app's installation."
    )


def slack_request_failed(code: str) -> str:
    return f"Slack refused a request from threadline ({code}). Please try again."


def slack_unreachable() -> str:
    return "threadline could not reach Slack. Please try again in a moment."


def slack_asked(user_id: str, prompt: str, model: str | None) -> str:
    """The channel message a slash command's answer is threaded under."""
    via = f" (model {model})" if model else ""
    return f"<@{user_id}> asked{via}: {prompt}"


def slack_empty_prompt(command: str) -> str:
    return f"Write a question after {command}, for example `{command} what is a monad?`."


def slack_stop_fallback() -> str:
    """The notification text of the message holding an answer's Stop button."""
    return "Stop this answer"


def slack_regenerate_fallback() -> str:
    return "Regenerate this answer"


def stop_not_yours(platform: str) -> str:
    admins = {"discord": "someone who can manage messages", "slack": "a workspace admin"}
    return (
        f"Only the person who asked, or {admins.get(platform, 'an admin')}, can stop this answer."
    )


def slack_prompts_title() -> str:
    return "Try asking:"


def slack_suggested_prompts() -> list[tuple[str, str]]:
    """(title, message) pairs shown when an assistant thread opens."""
    return [
        ("Summarise a text", "Summarise this text in three bullet points: "),
        ("Explain a concept", "Explain this like I'm new to the topic: "),
        ("Draft a reply", "Help me write a friendly, short reply to this message: "),
    ]


def slack_thread_title(question: str) -> str:
    """An assistant thread's title: the start of its first question."""
    words = " ".join(question.split())
    return words if len(words) <= 60 else words[:59].rstrip() + "…"


# Discord

# Why an attachment is refused, by the key the Discord adapter passes.
_ATTACHMENT_PROBLEMS: dict[str, str] = {
    "type": "that kind of file is not supported",
    "size": "it is too large",
    "image": "it is not a valid image",
    "encoding": "it is not UTF-8 text",
}


def discord_request_failed(status: int | None, code: int | None) -> str:
    parts = [f"HTTP {status}" if status else "", f"code {code}" if code else ""]
    detail = ", ".join(part for part in parts if part) or "no detail"
    return f"Discord refused a request from threadline ({detail}). Please try again."


def discord_unreachable() -> str:
    return "threadline could not reach Discord. Please try again in a moment."


def discord_thread_name(author: str) -> str:
    """A new thread's name when its first message has no words to name it by."""
    return f"Question from {author}"


def discord_attachment_refused(name: str, problem: str, image_limit: int, text_limit: int) -> str:
    return (
        f"threadline cannot read {name} ({_ATTACHMENT_PROBLEMS[problem]}): it reads PNG, JPEG, "
        f"WebP and GIF images up to {_discord_size(image_limit)} and text files such as code, logs, "
        f"CSV and Markdown up to {_discord_size(text_limit)}."
    )


def attachment_host_refused(name: str, platform: str) -> str:
    return (
        f"threadline did not read {name}: its link does not lead to {platform}'s own file "
        f"hosts, and threadline downloads attachments only from there. Attach the file "
        f"to your message in {platform} and ask again."
    )


def discord_attachment_unavailable(name: str) -> str:
    return f"Discord did not let threadline download {name}; please attach it again."


def _discord_size(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):g} MiB"
    return f"{limit / 1024:g} KiB"


def internal_error() -> str:
    return "Something went wrong inside threadline while answering. Please try again."


def discord_token_refused() -> str:
    return "Discord refused DISCORD_TOKEN. Copy the bot token again from the Developer Portal (Bot → Reset Token)."


def running_on(platforms: list[str]) -> str:
    return f"threadline is answering on {' and '.join(platforms)}. Ctrl-C (or SIGTERM) stops it."


# Slack: files (after the Discord section so it can reuse the same sentence)


def slack_file_refused(name: str, problem: str, image_limit: int, text_limit: int) -> str:
    """Why a shared file is refused, by the keys of ``_ATTACHMENT_PROBLEMS``: the
    Discord sentence says what is supported, and fits Slack word for word."""
    return discord_attachment_refused(name, problem, image_limit, text_limit)


def slack_file_unavailable(name: str) -> str:
    return (
        f"Slack did not let threadline download {name}; please share it again. If it keeps "
        "happening, an operator needs to check that the app has the files:read scope."
    )


# The container health probe (python -m bot.probe)


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


# Images in and out


def _mib(limit: int) -> str:
    if limit < 1024 * 1024:
        return f"{limit:,} bytes"
    return f"{limit / (1024 * 1024):g} MiB"


def image_too_large(name: str, limit: int) -> str:
    return f"{name} is larger than {_mib(limit)}; send a smaller or more compressed image."


def image_format_unsupported(name: str) -> str:
    return f"{name} is not a PNG, JPEG, WebP or GIF image; convert it to one of those and send it again."


def too_many_images(count: int, limit: int) -> str:
    return f"That message has {count} images and threadline reads at most {limit}; send them in smaller groups."


def image_model_needs_image(model: str) -> str:
    return f"{model} changes an existing image and this thread has none yet; attach an image and ask again."


def image_for_vision(model: str) -> str:
    return f"{model} cannot read images"


def image_upload_failed(count: int) -> str:
    if count == 1:
        return "⚠️ The image could not be posted here, so its link is left in the answer."
    return f"⚠️ {count} images could not be posted here, so their links are left in the answer."


def fetch_refused_scheme(url: str) -> str:
    return f"threadline only downloads http and https links, not {url[:60]}; share the image another way."


def fetch_refused_address(host: str) -> str:
    return f"threadline does not download from the private address {host}; share a public link instead."


def fetch_failed(reason: str) -> str:
    return f"The image could not be downloaded ({reason}); try again or share it another way."


# The terminal chat (threadline chat)


def chat_banner(thread: str, model: str | None) -> str:
    using = f" with {model}" if model else ""
    return f"threadline chat: thread {thread!r}{using}. /help lists the commands; /exit (or Ctrl-D) leaves."


def chat_speaker(role: str) -> str:
    return "you" if role == "user" else "threadline" if role == "assistant" else role


def chat_help() -> str:
    return (
        "Commands:\n"
        "  /help   this list\n"
        "  /exit   leave (Ctrl-D too)\n"
        "Ctrl-C while an answer streams stops it; Ctrl-C at the prompt leaves.\n"
        "The thread is kept: `threadline chat --thread NAME` resumes it, "
        "`threadline history --thread NAME` prints it."
    )


def chat_unknown(command: str) -> str:
    return f"{command} is not a chat command; /help lists them."


def chat_answer_stopped() -> str:
    return "(Answer stopped. Ctrl-C again leaves.)"


def image_saved(path: str) -> str:
    return f"🖼️ Saved the image to {path}"


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


def storage_url_unknown(scheme: str) -> str:
    return (
        f"must start with postgresql:// or sqlite:/// (not {scheme!r}), for example "
        "postgresql://user:password@host:5432/threadline or sqlite:///threadline.db"
    )
