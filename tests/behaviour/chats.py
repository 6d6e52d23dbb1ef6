"""One driver per platform, each running the real bot against its loopback fake.

A scenario speaks to ``Chat`` only: start a conversation in the channel, follow
up in its thread, talk in a DM, give a slash command somewhere as someone. The
drivers translate that into gateway events and interactions (Discord) or
Socket Mode events and slash commands (Slack), and read back what the user saw.

Every way the platforms differ on purpose is listed in ``DIFFERENCES`` below.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from bot.conversation_settings import Said
from bot.domain import ThreadKey
from bot.ports import ConversationStore
from tests.discord.harness import MANAGE_CHANNELS, REGENERATE, Rig, has_button
from tests.fakes.discord.interactions import MESSAGE
from tests.fakes.discord.model import EPHEMERAL
from tests.fakes.discord.payloads import EVERYONE_PERMISSIONS
from tests.fakes.slack import SlackFake
from tests.slack.conftest import BOT, shown

# Who gives a command: someone with no rights, a platform admin (Discord: Manage
# Channels; Slack: a workspace admin), or someone on *_ADMIN_USER_IDS.
Who = Literal["member", "admin", "listed"]
# Where: the channel, the thread of the conversation started last, or the DM.
Where = Literal["channel", "thread", "dm"]

# The deliberate differences, in one place.
DIFFERENCES = {
    "discord": "a Discord DM belongs to no server: only the user lists apply there",
    "slack": "a Slack DM belongs to its workspace: the team lists apply there too",
}


class Chat(Protocol):
    platform: str
    store: ConversationStore

    def user_id(self, who: Who) -> str: ...

    def bot(self, **settings: Any) -> contextlib.AbstractAsyncContextManager[None]: ...

    async def mention(self, text: str, *, who: Who = "member") -> None: ...

    async def mention_unanswered(self, text: str, *, who: Who = "member") -> None:
        """Send a mention and do not wait for an answer (one that should get none)."""

    async def follow_up(self, text: str) -> None: ...

    async def dm(self, text: str) -> None: ...

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


# -- Discord -------------------------------------------------------------------------


@dataclass
class DiscordChat:
    rig: Rig
    platform: str = "discord"
    _thread: int = 0
    _answers: int = 0

    @property
    def store(self) -> ConversationStore:
        return self.rig.store

    def _name(self, who: Who) -> str:
        return "alice" if who == "admin" else "bob"

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
