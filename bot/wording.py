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
}


def upstream_error(kind: str, code: str, detail: str, trace_id: str | None) -> str:
    """The chat-visible sentence for a failed upstream call."""
    sentence = _UPSTREAM_BY_CODE.get(code)
    if sentence is None:
        if kind == "UpstreamBadRequest":
            sentence = f"The model service refused the request ({code}): {detail}"
        else:
            sentence = f"The model service failed ({code}): {detail}. Please try again."
    if trace_id:
        sentence += f" (trace id: {trace_id})"
    return sentence


def platform_busy(retry_after: float) -> str:
    return f"The chat platform asked threadline to slow down; retrying in {retry_after:.1f} s."


def temperature_out_of_range(value: float) -> str:
    return f"Temperature must be between 0 and 2; {value} is outside that range."


def context_trimmed(used: int) -> str:
    noun = "message" if used == 1 else "messages"
    return f"⚠️ Only the last {used} {noun} of this thread were used; older ones did not fit."


def interrupted_notice() -> str:
    return "⚠️ This answer was interrupted before it finished. Ask again to continue."


def stopped_notice() -> str:
    return "⏹️ Stopped."


def no_platform_configured() -> str:
    return (
        "No chat platform is configured. Set DISCORD_TOKEN for Discord, or SLACK_BOT_TOKEN "
        "with SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode) for Slack. "
        "`threadline chat` talks to the model from this terminal without either."
    )


def missing_api_key() -> str:
    return (
        "OPENAI_API_KEY is not set. Put it in the environment or in a .env file "
        "(OPENAI_API_KEY=sk-...), and OPENAI_BASE_URL if you use a compatible server."
    )


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

    def of(used: int, quota: int) -> str:
        return f"{used:,} of {quota:,}" if quota else f"{used:,}"

    where = [f"{of(report.mine, report.user_quota)} by you", f"{report.channel:,} in this channel"]
    if report.workspace is not None:
        where.append(f"{of(report.workspace, report.workspace_quota)} in this {place}")
    sentence = f"Tokens used today (UTC): {', '.join(where)}."
    if report.user_quota or report.workspace_quota:
        sentence += f" Quotas renew at 00:00 UTC, {after(report.renews_in)}."
    return sentence


def busy_try_later() -> str:
    return "threadline is answering too many questions right now. Please try again in a minute."


def n_out_of_range(value: int) -> str:
    return f"n (how many answers to generate) must be 1 or more; {value} is not."


def model_switched(model: str, because: str) -> str:
    return f"ℹ️ Answered by {model}: {because}."


def unsupported_image(name: str) -> str:
    return f"{name} is not an image threadline can send; use PNG, JPEG, WebP or GIF."


def unreadable_file(name: str, reason: str) -> str:
    return f"Could not read {name} ({reason}); check the path and try again."


def nothing_to_regenerate() -> str:
    return "There is no answer here to regenerate; ask the question again instead."


# Slack

SLACK_THINKING_STATUS = "is thinking…"


def slack_no_bot_token() -> str:
    return "SLACK_BOT_TOKEN is not set: threadline needs the bot token (xoxb-…) to talk to Slack."


def slack_no_connection_mode() -> str:
    return (
        "Slack needs a way to deliver events: set SLACK_APP_TOKEN (xapp-…) for Socket Mode, "
        "or SLACK_SIGNING_SECRET for HTTP mode (Slack posts to /slack/events)."
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


def slack_unknown_model(name: str, known: list[str]) -> str:
    return f"threadline does not know the model `{name}`. Known models: {', '.join(known)}."


def slack_model_shown(model: str, *, is_default: bool, known: list[str]) -> str:
    source = "the default" if is_default else "set for this channel"
    return (
        f"This channel uses `{model}` ({source}). "
        f"Change it with `/model <name>`; known models: {', '.join(known)}."
    )


def slack_model_set(user_id: str, model: str) -> str:
    return f"<@{user_id}> set this channel's model to `{model}`."


def slack_system_shown(prompt: str | None) -> str:
    if prompt is None:
        return "This channel uses the default system prompt. Set one with `/system <text>`."
    return f"This channel's system prompt is: {prompt}"


def slack_system_set(user_id: str) -> str:
    return f"<@{user_id}> set this channel's system prompt; new answers follow it."


def slack_reset_done() -> str:
    return "Done: the next message starts a fresh conversation."


def slack_reset_in_channel() -> str:
    return (
        "In a channel every thread is its own conversation: mention me in a new message "
        "to start fresh. /reset clears the conversation of a direct message."
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


def discord_attachment_unavailable(name: str) -> str:
    return f"Discord did not let threadline download {name}; please attach it again."


def discord_not_allowed() -> str:
    return "threadline is not available to you here; ask a server admin if you think it should be."


def discord_unknown_model(name: str, known: list[str]) -> str:
    return f"threadline does not know the model {name}; choose one of: {', '.join(known)}."


def discord_model_shown(model: str, place: str, *, is_default: bool) -> str:
    source = "the default" if is_default else f"chosen for this {place}"
    return f"This {place} uses {model} ({source}); change it with /model name."


def discord_model_set(who: str, model: str, place: str) -> str:
    return f"{who} set this {place}'s model to {model}."


def discord_system_shown(prompt: str | None, place: str) -> str:
    if prompt is None:
        return f"This {place} uses the default system prompt; set one with /system text."
    return f"This {place}'s system prompt is: {prompt}"


def discord_system_set(place: str) -> str:
    return f"Done: new answers in this {place} follow the new system prompt."


def discord_system_cleared(place: str) -> str:
    return f"Done: this {place} is back to the default system prompt."


def discord_needs_manage_channels() -> str:
    return "Only members who can manage this channel may see or change its system prompt."


def discord_reset_done() -> str:
    return "Done: the next message here starts a fresh conversation."


def discord_stop_not_yours() -> str:
    return "Only the person who asked, or someone who can manage messages, can stop this answer."


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


def image_saved(path: str) -> str:
    return f"🖼️ Saved the image to {path}"
