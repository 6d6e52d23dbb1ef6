"""``/settings key=value …``: show or set this place's API parameters (bot/params.py).

    /settings                                   what a question here is sent with
    /settings temperature=0.7 max_tokens=500    set (a thread: that thread; else the channel)
    /settings format=json                       answers as JSON objects (format=text: plain)
    /settings temperature=default               inherit the channel's (or the default) again
    /settings clear                             forget every value set here

Slash commands carry no options of their own, so the text is ``key=value`` words,
the shape ``/ask`` takes as a prefix (``/ask temperature=0.2 n=3 question``).
"""

from __future__ import annotations

from adapters.slack.translate import PLATFORM, SlashCommand
from bot.conversation_settings import channel_key
from bot.domain import ThreadKey
from bot.params import ParamsDesk, parse_assignments

__all__ = ["settings_command"]


async def settings_command(desk: ParamsDesk, command: SlashCommand) -> tuple[str, bool]:
    """The answer to ``/settings`` and whether the channel sees it (a change does).

    Bad words and values raise ``InputError`` (the caller answers with its sentence).
    """
    key, place = _place(command)
    text = command.text.strip()
    who = f"<@{command.user_id}>"
    if not text:
        return await desk.show(key, place, "slack"), False
    if text.lower() == "clear":
        return await desk.clear(key, place, who), True
    return await desk.change(key, place, parse_assignments(text, allow_n=False), who), True


def _place(command: SlashCommand) -> tuple[ThreadKey, str]:
    """A thread's own values when the command came from one, else the channel's."""
    if command.thread_ts is not None:
        key = ThreadKey(PLATFORM, command.team_id, command.channel_id, command.thread_ts)
        return key, "thread"
    return channel_key(ThreadKey(PLATFORM, command.team_id, command.channel_id, "")), "channel"
