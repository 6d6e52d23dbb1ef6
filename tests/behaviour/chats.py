"""One driver per platform, each running the real bot against its loopback fake.

A scenario speaks to ``Chat`` only: start a conversation in the channel, follow
up in its thread, talk in a DM, give a slash command somewhere as someone. The
drivers (discord_chat.py, slack_chat.py) translate that into gateway events and
interactions (Discord) or Socket Mode events, slash commands and block_actions
(Slack), and read back what the user saw.

Every way the platforms differ on purpose is named below, in one place. A way they
differ by accident (a product bug a scenario found) is an ``xfail(strict=True)``
marker named where the scenario uses it, with the reason: fixing the bug turns it
into an XPASS, which fails until the marker goes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from bot.conversation_settings import Said
from bot.domain import ThreadKey, Turn, TurnStatus
from bot.ports import ConversationStore

# Who gives a command: someone with no rights, a platform admin (Discord: Manage
# Channels; Slack: a workspace admin), or someone on *_ADMIN_USER_IDS.
Who = Literal["member", "admin", "listed"]
# Where: the channel, the thread of the conversation started last, or the DM.
Where = Literal["channel", "thread", "dm"]
Button = Literal["stop", "regenerate"]
# A message a scenario sent, to edit or delete later: a Discord message id, a Slack ts.
Ref = str


@dataclass(frozen=True)
class File:
    """An attachment a person adds to a message (uploaded to the platform's own file host)."""

    name: str
    data: bytes
    mimetype: str


# The deliberate differences, in one place.
# A Discord DM belongs to no server, so the server lists do not reach it; a Slack DM
# belongs to its workspace, so the team lists apply there too (bot/access.py).
DM_BELONGS_TO_WORKSPACE = {"discord": False, "slack": True}
# The access-list settings that name a workspace: a Discord server, a Slack team.
WORKSPACE_LISTS = {
    "discord": ("allowed_guild_ids", "blocked_guild_ids"),
    "slack": ("allowed_team_ids", "blocked_team_ids"),
}
# Where a refusal of a mention (a bare mention, a refused file) is shown: Discord
# answers in the channel as a reply and opens no thread for it; Slack answers in the
# mention's thread, which a Slack message always has. The drivers read it there.
REFUSAL_OPENS_A_THREAD = {"discord": False, "slack": True}
# How long one message of an answer may be: Discord's content limit; Slack's
# markdown_text / markdown block (the native stream's text).
MESSAGE_LIMIT = {"discord": 2_000, "slack": 12_000}


class Chat(Protocol):
    platform: str

    @property
    def store(self) -> ConversationStore: ...

    def user_id(self, who: Who) -> str: ...

    def workspace_id(self) -> str: ...

    def bot(
        self, *, recover: bool = False, **settings: Any
    ) -> contextlib.AbstractAsyncContextManager[None]:
        """A started bot, stopped on exit. ``recover``: start as ``threadline run`` does
        after a stop (answers cut short are ended, questions left waiting are asked)."""

    async def mention(self, text: str, *, who: Who = "member", files: Sequence[File] = ()) -> Ref:
        """Mention the bot in the channel and wait until its answer is finished."""

    async def bot_mentions(self, text: str, *, own: bool) -> None:
        """A bot mentions this one in the channel: another integration, or (``own``)
        this bot's own message as the platform echoes it back."""

    async def delivered_again(self) -> None:
        """The platform delivers the last mention a second time, as it may (Discord: a
        RESUME replays it; Slack: the same event_id again, a retry)."""

    async def mention_unanswered(self, text: str, *, who: Who = "member") -> None:
        """Send a mention and do not wait for an answer (one that should get none)."""

    async def follow_up(self, text: str, *, wait: bool = True) -> Ref:
        """Write in the thread of the conversation started last; wait for the answer
        (``wait=False``: return once it is sent)."""

    async def dm(self, text: str) -> Ref:
        """Write to the bot in a DM (which becomes the current conversation); wait for the answer."""

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

    # conversations
    async def start(self, text: str, *, who: Who = "member") -> Ref:
        """Mention the bot and return at once: its answer is on its way."""

    async def until_shown(self, fragment: str) -> str:
        """Wait until the current conversation shows ``fragment`` in a finished answer;
        everything the bot shows there."""

    async def refused(self, text: str, *, files: Sequence[File] = ()) -> str:
        """Mention the bot with ``files``; the one message it shows instead of an answer
        (where: REFUSAL_OPENS_A_THREAD)."""

    def rendered(self, sentence: str) -> str:
        """A sentence of bot/wording.py as the platform shows it (Slack: mrkdwn)."""

    async def edit(self, ref: Ref, text: str) -> None:
        """The author changes a message's words (a mention stays a mention)."""

    async def delete(self, ref: Ref) -> None: ...

    async def stored(self, ref: Ref) -> Turn | None:
        """The stored turn of a message, None if the store holds none."""

    async def answer_status(self) -> TurnStatus:
        """How the store holds the current conversation's latest answer."""

    def times_shown(self) -> int:
        """How many different texts the latest answer showed (more than one: it streamed)."""

    async def caught_up(self) -> None:
        """Wait until the running bot's catch-up has read the current thread back from
        the platform (Discord: its message history; Slack: conversations.replies)."""

    async def follow_up_while_down(self, text: str) -> None:
        """A follow-up in the current thread posted while no bot is running."""


async def until_stored(chat: Chat, ref: Ref, text: str | None, timeout: float = 5.0) -> None:
    """Wait until the store holds ``text`` for the message ``ref`` (None: holds nothing).

    The store raises no events: this re-reads it every 10 ms until the deadline, and
    fails the test there. It never decides anything by time."""
    try:
        async with asyncio.timeout(timeout):
            while await _text(chat, ref) != text:
                await asyncio.sleep(0.01)
    except TimeoutError:
        held = await _text(chat, ref)
        raise AssertionError(f"the store holds {held!r} for {ref}, not {text!r}") from None


async def _text(chat: Chat, ref: Ref) -> str | None:
    turn = await chat.stored(ref)
    return turn.text if turn is not None else None


async def settled(
    store: ConversationStore, platform: str, message_id: str, timeout: float = 5.0
) -> TurnStatus:
    """The status of the answer turn shown in ``message_id``, once the store has
    concluded it: the chat may show the last words a moment before the store notes
    the message and its end."""
    async with asyncio.timeout(timeout):
        while True:
            stored = await store.find_by_message(platform, message_id)
            if stored is not None and stored.turn.status not in _UNSETTLED:
                return stored.turn.status
            await asyncio.sleep(0.01)


_UNSETTLED = (TurnStatus.PENDING, TurnStatus.STREAMING)
