"""``Chat`` on Slack: the real SlackBot against the loopback Web API and Socket Mode."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from adapters.slack.buttons import REGENERATE_ACTION, STOP_ACTION
from bot.conversation_settings import Said
from bot.domain import ThreadKey
from bot.ports import ConversationStore
from tests.behaviour.chats import Button, Where, Who
from tests.fakes.slack import SlackFake
from tests.slack.conftest import BOT, bot_messages, holds_button, shown

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
        if name == "/settings":  # Slack's /settings takes key=value words
            text = "clear" if options.pop("clear", False) else text
            text = " ".join([text, *(f"{k}={v}" for k, v in options.items())]).strip()
        elif options.get("clear"):
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
