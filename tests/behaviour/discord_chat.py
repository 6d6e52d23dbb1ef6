"""``Chat`` on Discord: the real DiscordBot against the loopback gateway and REST."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import wording
from bot.conversation_settings import Said
from bot.domain import ThreadKey, Turn, TurnStatus
from bot.ports import ConversationStore
from tests.behaviour.chats import Button, File, Ref, Where, Who, settled
from tests.discord.harness import MANAGE_CHANNELS, REGENERATE, STOP, Rig, has_button
from tests.discord.harness import button as find_button
from tests.fakes.discord import FakeFile
from tests.fakes.discord.interactions import MESSAGE
from tests.fakes.discord.model import EPHEMERAL, Interaction, Message
from tests.fakes.discord.payloads import EVERYONE_PERMISSIONS


@dataclass
class DiscordChat:
    rig: Rig
    platform: str = "discord"
    _thread: int = 0
    _answers: int = 0
    _clicked: Interaction | None = None
    _mentions: set[int] = field(default_factory=set)  # messages whose edits keep the mention
    _reads: int = 0  # reads of the current thread's history before this bot started
    _last_mention: int = 0

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
    async def bot(self, *, recover: bool = False, **settings: Any) -> AsyncIterator[None]:
        if "carol" not in {u.username for u in self.rig.fake.world.users.values()}:
            self.rig.fake.add_user("carol")
        listed = {"admin_user_ids": [int(self.user_id("listed"))]}
        self._reads = len(self._history_reads())
        async with self.rig.bot(recover=recover, **(listed | _discord_ids(settings))):
            yield

    async def mention(self, text: str, *, who: Who = "member", files: Sequence[File] = ()) -> Ref:
        asked = await self._post_mention(text, who, files)
        self._thread = await self.rig.thread_of(asked)
        self._answers = 1
        await self.rig.answered(self._thread)
        return str(asked)

    async def _post_mention(self, text: str, who: Who, files: Sequence[File] = ()) -> int:
        asked = await self.rig.fake.dispatch_message(
            author=self._author(who),
            content=text,
            mentions_bot=True,
            attachments=[FakeFile(f.name, f.data, f.mimetype) for f in files],
        )
        self._mentions.add(asked)
        self._last_mention = asked
        return asked

    async def bot_mentions(self, text: str, *, own: bool) -> None:
        fake = self.rig.fake
        author = fake.bot
        if not own:
            names = {u.username for u in fake.world.users.values()}
            author = fake.user("otherbot") if "otherbot" in names else fake.add_user("otherbot")
            author.bot = True
        await fake.dispatch_message(author=author, content=text, mentions_bot=True)

    async def delivered_again(self) -> None:
        fake = self.rig.fake
        [session] = fake.gateway.sessions.values()
        frame = next(
            f
            for f in session.buffer
            if f["t"] == "MESSAGE_CREATE" and f["d"]["id"] == str(self._last_mention)
        )
        resumes = fake.stats().counts.get("resumes", 0)
        # Discord delivers at least once: the RESUME replays from the mention on.
        await fake.force_reconnect(duplicate=session.seq - int(frame["s"]) + 1)
        await fake.wait_for(lambda: fake.stats().counts.get("resumes", 0) > resumes)

    async def mention_unanswered(self, text: str, *, who: Who = "member") -> None:
        await self.rig.fake.dispatch_message(
            author=self._author(who), content=text, mentions_bot=True
        )

    async def follow_up(self, text: str, *, wait: bool = True) -> Ref:
        sent = await self.rig.fake.dispatch_message(self._thread, author="bob", content=text)
        self._answers += 1
        if wait:
            await self.rig.answered(self._thread, count=self._answers)
        return str(sent)

    async def dm(self, text: str) -> Ref:
        fake = self.rig.fake
        self._thread = dm = fake.open_dm("bob")
        self._answers = 1 + len([m for m in self.rig.bot_messages(dm) if has_button(m, REGENERATE)])
        sent = await fake.dispatch_message(dm, content=text)
        await self.rig.answered(dm, count=self._answers)
        return str(sent)

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

    async def start(self, text: str, *, who: Who = "member") -> Ref:
        asked = await self._post_mention(text, who)
        self._thread = await self.rig.thread_of(asked)
        self._answers = 1
        return str(asked)

    async def start_answer(self, text: str, *, who: Who) -> None:
        await self.start(text, who=who)
        await self.wait_button("stop")

    def _holding(self, button: Button) -> Message | None:
        prefix = STOP if button == "stop" else REGENERATE
        found = [m for m in self.rig.bot_messages(self._thread) if has_button(m, prefix)]
        return found[-1] if found else None

    async def wait_button(self, button: Button) -> None:
        await self.rig.fake.wait_for(lambda: self._holding(button))

    async def click(self, button: Button, *, who: Who) -> None:
        await self.wait_button(button)
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

    async def until_shown(self, fragment: str) -> str:
        def done() -> bool:
            messages = self.rig.bot_messages(self._thread)
            finished = bool(messages) and has_button(messages[-1], REGENERATE)
            return finished and fragment in "".join(self.answers())

        await self.rig.fake.wait_for(done)
        return "".join(self.answers())

    async def refused(self, text: str, *, files: Sequence[File] = ()) -> str:
        asked = await self._post_mention(text, "member", files)
        general = self.rig.fake.channel().id  # chats.REFUSAL_OPENS_A_THREAD

        def told() -> list[Message]:
            return [m for m in self.rig.bot_messages(general) if m.reference_id == asked]

        [message] = await self.rig.fake.wait_for(told)
        assert asked not in self.rig.fake.world.channels
        return message.content

    def rendered(self, sentence: str) -> str:
        return sentence

    async def edit(self, ref: Ref, text: str) -> None:
        message_id = int(ref)
        if message_id in self._mentions:
            text = f"<@{self.rig.fake.bot.id}> {text}"
        await self.rig.fake.dispatch_message_update(message_id, text)

    async def delete(self, ref: Ref) -> None:
        await self.rig.fake.dispatch_message_delete(int(ref))

    async def stored(self, ref: Ref) -> Turn | None:
        found = await self.store.find_by_message("discord", ref)
        return found.turn if found is not None else None

    async def answer_status(self) -> TurnStatus:
        last = self.rig.bot_messages(self._thread)[-1]
        return await settled(self.store, "discord", str(last.id))

    def times_shown(self) -> int:
        last = self.rig.bot_messages(self._thread)[-1]
        return len({text for text in last.history if text != wording.THINKING_PLACEHOLDER})

    def _history_reads(self) -> list[object]:
        reads = self.rig.fake.requests_to("GET /channels/{channel_id}/messages", status=200)
        return [r for r in reads if r.path.endswith(f"/channels/{self._thread}/messages")]

    async def caught_up(self) -> None:
        await self.rig.fake.wait_for(lambda: len(self._history_reads()) > self._reads)

    async def follow_up_while_down(self, text: str) -> None:
        # With no bot connected the gateway tells nobody; the channel keeps the message.
        await self.rig.fake.dispatch_message(self._thread, author="bob", content=text)
        self._answers += 1

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
