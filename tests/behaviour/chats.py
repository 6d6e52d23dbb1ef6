"""One driver per platform, each running the real bot against its loopback fake.

A scenario speaks to ``Chat`` only: start a conversation in the channel, follow
up in its thread, talk in a DM, give a slash command somewhere as someone. The
drivers (discord_chat.py, slack_chat.py) translate that into gateway events and
interactions (Discord) or Socket Mode events, slash commands and block_actions
(Slack), and read back what the user saw.

Every way the platforms differ on purpose is named below, in one place.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Literal, Protocol

from bot.conversation_settings import Said
from bot.domain import ThreadKey
from bot.ports import ConversationStore

# Who gives a command: someone with no rights, a platform admin (Discord: Manage
# Channels; Slack: a workspace admin), or someone on *_ADMIN_USER_IDS.
Who = Literal["member", "admin", "listed"]
# Where: the channel, the thread of the conversation started last, or the DM.
Where = Literal["channel", "thread", "dm"]
Button = Literal["stop", "regenerate"]

# The deliberate differences, in one place.
# A Discord DM belongs to no server, so the server lists do not reach it; a Slack DM
# belongs to its workspace, so the team lists apply there too (bot/access.py).
DM_BELONGS_TO_WORKSPACE = {"discord": False, "slack": True}
# The access-list settings that name a workspace: a Discord server, a Slack team.
WORKSPACE_LISTS = {
    "discord": ("allowed_guild_ids", "blocked_guild_ids"),
    "slack": ("allowed_team_ids", "blocked_team_ids"),
}


class Chat(Protocol):
    platform: str
    store: ConversationStore

    def user_id(self, who: Who) -> str: ...

    def workspace_id(self) -> str: ...

    def bot(self, **settings: Any) -> contextlib.AbstractAsyncContextManager[None]: ...

    async def mention(self, text: str, *, who: Who = "member") -> None: ...

    async def mention_unanswered(self, text: str, *, who: Who = "member") -> None:
        """Send a mention and do not wait for an answer (one that should get none)."""

    async def follow_up(self, text: str) -> None: ...

    async def dm(self, text: str) -> None: ...

    async def dm_unanswered(self, text: str) -> None: ...

    async def ask(self, text: str, *, model: str, who: Who = "member") -> None: ...

    async def command(
        self,
        name: str,
        text: str = "",
        *,
        where: Where = "channel",
        who: Who = "member",
        **options: Any,
    ) -> Said: ...

    def channel_key(self) -> ThreadKey: ...

    async def until(self, check: Callable[[], object]) -> None:
        """Wait until ``check()`` is true (the platform fake's clock and timeout)."""

    # buttons
    async def start_answer(self, text: str, *, who: Who) -> None:
        """Mention the bot and wait until the answer streams (its Stop button shows)."""

    async def click(self, button: Button, *, who: Who) -> None:
        """Click the thread's ``button`` as ``who`` (acknowledged)."""

    async def told(self) -> str:
        """The latest sentence shown only to the person who clicked."""

    async def wait_button(self, button: Button) -> None: ...

    def answers(self) -> list[str]:
        """The bot's answers in the thread, oldest first (not the messages holding buttons)."""
