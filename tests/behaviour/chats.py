"""One driver per platform, each running the real bot against its loopback fake.

A scenario speaks to ``Chat`` only: start a conversation in the channel, follow
up in its thread, talk in a DM, give a slash command somewhere as someone. The
drivers translate that into gateway events and interactions (Discord) or
Socket Mode events and slash commands (Slack), and read back what the user saw.

Every way the platforms differ on purpose is listed in ``DIFFERENCES`` below.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from adapters.slack.buttons import REGENERATE_ACTION, STOP_ACTION
from bot.conversation_settings import Said
from bot.domain import ThreadKey
from bot.ports import ConversationStore
from tests.discord.harness import MANAGE_CHANNELS, REGENERATE, STOP, Rig, has_button
from tests.discord.harness import button as find_button
from tests.fakes.discord.interactions import MESSAGE, Interaction
from tests.fakes.discord.model import EPHEMERAL, Message
from tests.fakes.discord.payloads import EVERYONE_PERMISSIONS
from tests.fakes.slack import SlackFake
from tests.slack.conftest import BOT, bot_messages, holds_button, shown

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


# -- Discord -------------------------------------------------------------------------


@dataclass
class DiscordChat:
    rig: Rig
    platform: str = "discord"
    _thread: int = 0
    _answers: int = 0
    _clicked: Interaction | None = None

    @property
    def store(self) -> ConversationStore:
        return self.rig.store

    def _name(self, who: Who) -> str:
        return "alice" if who == "admin" else "bob"

    def workspace_id(self) -> str:
        return str(self.rig.fake.guild.id)

    def user_id(self, who: Who) -> str:
        return str(self.rig.fake.user("carol" if who == "listed" else self._name(who)).id)

    @contextlib.asynccontextmanager
    async def bot(self, **settings: Any) -> AsyncIterator[None]:
        if "carol" not in {u.username for u in self.rig.fake.world.users.values()}:
            self.rig.fake.add_user("carol")
        listed = {"admin_user_ids": [int(self.user_id("listed"))]}
        async with self.rig.bot(**(listed | _discord_ids(settings))):
            yield

    async def mention(self, text: str, *, who: Who = "member") -> None:
        fake = self.rig.fake
        asked = await fake.dispatch_message(
            author=self._author(who), content=text, mentions_bot=True
        )
        self._thread = await self.rig.thread_of(asked)
        self._answers = 1
        await self.rig.answered(self._thread)

    async def mention_unanswered(self, text: str, *, who: Who = "member") -> None:
        await self.rig.fake.dispatch_message(
            author=self._author(who), content=text, mentions_bot=True
        )

    async def follow_up(self, text: str) -> None:
        await self.rig.fake.dispatch_message(self._thread, author="bob", content=text)
        self._answers += 1
        await self.rig.answered(self._thread, count=self._answers)

    async def dm(self, text: str) -> None:
        fake = self.rig.fake
        dm = fake.open_dm("bob")
        before = len([m for m in self.rig.bot_messages(dm) if has_button(m, REGENERATE)])
        await fake.dispatch_message(dm, content=text)
        await self.rig.answered(dm, count=before + 1)

    async def ask(self, text: str, *, model: str, who: Who = "member") -> None:
        options = {"prompt": text, "model": model}
        interaction = await self.rig.slash("ask", options, user=self._author(who))
        await self.rig.interaction_done(interaction)

    async def dm_unanswered(self, text: str) -> None:
        await self.rig.fake.dispatch_message(self.rig.fake.open_dm("bob"), content=text)

    def _author(self, who: Who) -> str:
        return "carol" if who == "listed" else self._name(who)

    async def command(
        self,
        name: str,
        text: str = "",
        *,
        where: Where = "channel",
        who: Who = "member",
        **options: Any,
    ) -> Said:
        rig = self.rig
        name = name.removeprefix("/")
        args = dict(options)
        if text:
            args[{"model": "name", "system": "text", "ask": "prompt"}[name]] = text
        channel = {"channel": None, "thread": self._thread, "dm": None}[where]
        if where == "dm":
            channel = rig.fake.open_dm("bob")
        permissions = EVERYONE_PERMISSIONS | (MANAGE_CHANNELS if who == "admin" else 0)
        interaction = await rig.slash(
            name,
            args,
            channel_id=channel,
            user=self._author(who),
            permissions=permissions,
        )
        await rig.fake.wait_for(lambda: interaction.acknowledged)
        if interaction.response_type == MESSAGE:  # answered at once, without deferring
            data = interaction.response_data or {}
            return Said(data["content"], public=not data.get("flags", 0) & EPHEMERAL)
        content = await rig.interaction_reply(interaction)
        message = rig.fake.message(interaction.original_message_id or 0)
        return Said(content, public=not message.flags & EPHEMERAL)

    async def start_answer(self, text: str, *, who: Who) -> None:
        fake = self.rig.fake
        asked = await fake.dispatch_message(
            author=self._author(who), content=text, mentions_bot=True
        )
        self._thread = await self.rig.thread_of(asked)
        await self.wait_button("stop")

    def _holding(self, button: Button) -> Message | None:
        prefix = STOP if button == "stop" else REGENERATE
        found = [m for m in self.rig.bot_messages(self._thread) if has_button(m, prefix)]
        return found[-1] if found else None

    async def wait_button(self, button: Button) -> None:
        await self.rig.fake.wait_for(lambda: self._holding(button))

    async def click(self, button: Button, *, who: Who) -> None:
        message = self._holding(button)
        assert message is not None, f"no {button} button"
        prefix = STOP if button == "stop" else REGENERATE
        clicked = await self.rig.fake.click_button(
            message.id, find_button(message, prefix), user=self._author(who)
        )
        await self.rig.fake.wait_for(lambda: clicked.acknowledged)
        self._clicked = clicked

    async def told(self) -> str:
        data = self._clicked.response_data if self._clicked else None
        assert data is not None
        assert data.get("flags", 0) & EPHEMERAL
        return str(data["content"])

    def answers(self) -> list[str]:
        return [m.content for m in self.rig.bot_messages(self._thread)]

    async def until(self, check: Callable[[], object]) -> None:
        await self.rig.fake.wait_for(check)

    def channel_key(self) -> ThreadKey:
        general = self.rig.fake.channel()
        return ThreadKey("discord", str(general.guild_id), str(general.id), "")


def _discord_ids(settings: dict[str, Any]) -> dict[str, Any]:
    """Discord's lists take integer ids."""
    return {
        key: [int(v) for v in value] if key.endswith("_ids") else value
        for key, value in settings.items()
    }


# -- Slack ---------------------------------------------------------------------------

GENERAL = "C0GENERAL1"
DM = "D0ALICE001"
USERS = {"member": "U0BOB00001", "admin": "U0ALICE001", "listed": "U0CAROL001"}


@dataclass
class SlackChat:
    fake: SlackFake
    store: ConversationStore
    make_bot: Any  # tests.slack.conftest.MakeBot
    platform: str = "slack"
    _thread: str = ""
    _responses: int = 0

    def workspace_id(self) -> str:
        return self.fake.workspace.team_id

    def user_id(self, who: Who) -> str:
        return USERS[who]

    @contextlib.asynccontextmanager
    async def bot(self, **settings: Any) -> AsyncIterator[None]:
        workspace = self.fake.workspace
        if USERS["listed"] not in workspace.users:
            workspace.add_user(USERS["listed"], "carol", "Carol Example")
        workspace.users[USERS["admin"]].is_admin = True
        await self.make_bot(**({"admin_user_ids": [USERS["listed"]]} | settings))
        yield

    async def mention(self, text: str, *, who: Who = "member") -> None:
        mention = self.fake.payloads.app_mention(text, user=USERS[who])
        self._thread = mention["ts"]
        await self.fake.send_event(mention)
        await self._answered(GENERAL, self._thread, text)

    async def mention_unanswered(self, text: str, *, who: Who = "member") -> None:
        await self.fake.send_event(self.fake.payloads.app_mention(text, user=USERS[who]))

    async def follow_up(self, text: str) -> None:
        message = self.fake.payloads.message(text, user=USERS["member"], thread_ts=self._thread)
        await self.fake.send_event(message)
        await self._answered(GENERAL, self._thread, text)

    async def dm(self, text: str) -> None:
        await self.fake.send_event(
            self.fake.payloads.message(text, channel=DM, user=USERS["admin"])
        )
        await self._answered(DM, None, text)

    async def ask(self, text: str, *, model: str, who: Who = "member") -> None:
        await self.fake.send_command("/ask", f"--model {model} {text}", user_id=USERS[who])

        def answered() -> bool:
            quotes = [m for m in self.fake.messages(GENERAL) if m.user == BOT]
            return any(
                m.user == BOT and f"You said: {text}" in m.body and m.stream_state != "streaming"
                for quote in quotes
                for m in self.fake.messages(GENERAL, quote.ts)
            )

        await self.fake.wait_for(answered, what=f"the answer to /ask {text!r}")

    async def dm_unanswered(self, text: str) -> None:
        await self.fake.send_event(
            self.fake.payloads.message(text, channel=DM, user=USERS["admin"])
        )

    async def _answered(self, channel: str, thread: str | None, text: str) -> None:
        """The fake upstream echoes "You said: <text>"; the native stream then stops."""

        def done() -> bool:
            said = f"You said: {text}" in shown(self.fake, channel, thread)
            streaming = any(
                m.stream_state == "streaming"
                for m in self.fake.messages(channel, thread)
                if m.user == BOT
            )
            return said and not streaming

        await self.fake.wait_for(done, what=f"the answer to {text!r}")

    async def command(
        self,
        name: str,
        text: str = "",
        *,
        where: Where = "channel",
        who: Who = "member",
        **options: Any,
    ) -> Said:
        if options.get("clear"):
            text = "--clear"
        fields = {"channel_id": DM if where == "dm" else GENERAL, "user_id": USERS[who]}
        if where == "dm":
            fields["user_id"] = USERS["admin"]  # the DM's owner
        if where == "thread":
            fields["thread_ts"] = self._thread
        responses = self.fake.workspace.responses
        before = len(responses)
        await self.fake.send_command(name, text, **fields)
        await self.fake.wait_for(lambda: len(responses) > before, what=f"the answer to {name}")
        answer = responses[before]
        return Said(answer["text"], public=answer.get("response_type") == "in_channel")

    def channel_key(self) -> ThreadKey:
        return ThreadKey("slack", self.fake.workspace.team_id, GENERAL, "")

    async def start_answer(self, text: str, *, who: Who) -> None:
        mention = self.fake.payloads.app_mention(text, user=USERS[who])
        self._thread = mention["ts"]
        await self.fake.send_event(mention)
        await self.wait_button("stop")

    def _holding(self, button: Button) -> Any:
        action = STOP_ACTION if button == "stop" else REGENERATE_ACTION
        found = [
            m
            for m in self.fake.messages(GENERAL, self._thread)
            if m.user == BOT
            and holds_button(m)
            and m.blocks[0]["elements"][0]["action_id"] == action
        ]
        return found[-1] if found else None

    async def wait_button(self, button: Button) -> None:
        await self.fake.wait_for(lambda: self._holding(button), what=f"a {button} button")

    async def click(self, button: Button, *, who: Who) -> None:
        message = self._holding(button)
        assert message is not None, f"no {button} button"
        element = message.blocks[0]["elements"][0]
        payload = self.fake.payloads.block_actions(
            action_id=element["action_id"],
            value=element["value"],
            message_ts=message.ts,
            thread_ts=message.thread_ts,
            user=USERS[who],
        )
        self._responses = len(self.fake.workspace.responses)
        await self.fake.wait_for_ack(await self.fake.send_interaction(payload))

    async def told(self) -> str:
        responses = self.fake.workspace.responses
        await self.fake.wait_for(lambda: len(responses) > self._responses, what="a private answer")
        answer = responses[-1]
        assert answer["response_type"] == "ephemeral"
        return str(answer["text"])

    def answers(self) -> list[str]:
        return [m.body for m in bot_messages(self.fake, GENERAL, self._thread)]

    async def until(self, check: Callable[[], object]) -> None:
        await self.fake.wait_for(check)
