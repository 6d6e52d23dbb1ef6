"""A platform's name as a sentence shows it, from its key ("discord", "slack")."""

from __future__ import annotations

_NAMES = {"discord": "Discord", "slack": "Slack"}


def shown(platform: str) -> str:
    """ "Discord" for "discord" (or "Discord"): callers pass the adapter's PLATFORM key."""
    return _NAMES.get(platform.lower(), platform)
