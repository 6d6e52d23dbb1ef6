"""Attachments a question brings: what threadline reads, and why a file was
refused, in one sentence for every platform."""

from __future__ import annotations

from bot.wording._platforms import shown

# Why an attachment is refused, by the key the adapter passes.
_ATTACHMENT_PROBLEMS: dict[str, str] = {
    "type": "that kind of file is not supported",
    "size": "it is too large",
    "image": "it is not a valid image",
    "encoding": "it is not UTF-8 text",
}

# What a user does to send a file again, and the operator's hint when the platform
# refuses a download: Slack needs the files:read scope, Discord signs its own links.
_SEND_AGAIN = {
    "discord": ("attach it again.", ""),
    "slack": (
        "share it again.",
        " If it keeps happening, an operator needs to check that the app has the files:read scope.",
    ),
}


def attachment_refused(name: str, problem: str, image_limit: int, text_limit: int) -> str:
    """Why a file is refused (``problem`` is a key of ``_ATTACHMENT_PROBLEMS``) and what
    threadline reads instead."""
    return (
        f"threadline cannot read {name} ({_ATTACHMENT_PROBLEMS[problem]}): it reads PNG, JPEG, "
        f"WebP and GIF images up to {_size(image_limit)} and text files such as code, logs, "
        f"CSV and Markdown up to {_size(text_limit)}."
    )


def attachment_host_refused(name: str, platform: str) -> str:
    platform = shown(platform)
    return (
        f"threadline did not read {name}: its link does not lead to {platform}'s own file "
        f"hosts, and threadline downloads attachments only from there. Attach the file "
        f"to your message in {platform} and ask again."
    )


def attachment_unavailable(name: str, platform: str) -> str:
    """The platform would not let threadline download a file it announced."""
    again, hint = _SEND_AGAIN.get(platform.lower(), ("send it again.", ""))
    return f"{shown(platform)} did not let threadline download {name}; please {again}{hint}"


def _size(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):g} MiB"
    return f"{limit / 1024:g} KiB"
