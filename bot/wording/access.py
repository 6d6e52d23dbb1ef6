"""Refusals: who may use threadline here, change a channel's settings or stop an
answer. The platforms differ only in who their admins are."""

from __future__ import annotations


def not_allowed() -> str:
    return "threadline is not available to you here; ask an admin if you think it should be."


# Who besides the people on *_ADMIN_USER_IDS may change a channel's settings: the one
# place the platforms differ (bot/conversation_settings.py).
_CHANNEL_ADMINS = {
    "discord": "members who can manage this channel",
    "slack": "workspace admins and owners",
}


def settings_need_admin(platform: str) -> str:
    admins = _CHANNEL_ADMINS.get(platform, "admins")
    return (
        f"Only {admins} (and the people threadline's operator named as admins) can change "
        "the model or system prompt here. You can still pick a model for one question "
        "with /ask."
    )


def stop_not_yours(platform: str) -> str:
    admins = {"discord": "someone who can manage messages", "slack": "a workspace admin"}
    return (
        f"Only the person who asked, or {admins.get(platform, 'an admin')}, can stop this answer."
    )
