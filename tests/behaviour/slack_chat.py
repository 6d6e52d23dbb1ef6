"""``Chat`` on Slack: the real SlackBot against the loopback Web API and Socket Mode."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.slack.buttons import REGENERATE_ACTION, STOP_ACTION
from bot.conversation_settings import Said
from bot.domain import ThreadKey, Turn, TurnStatus
from bot.ports import ConversationStore
from bot.render import render_slack
from tests.behaviour.chats import Button, File, Ref, Where, Who, settled
from tests.fakes.slack import SlackFake
from tests.slack.conftest import BOT, bot_messages, holds_button

GENERAL = "C0GENERAL1"
DM = "D0ALICE001"
# Seconds between the bot's conversations.replies reads (the catch-up at a restart);
# the fake's tier for the method is set to the same (conftest.READS).
READ_INTERVAL = 0.5
USERS = {"member": "U0BOB00001", "admin": "U0ALICE001", "listed": "U0CAROL001"}


@dataclass
class SlackChat:
    fake: SlackFake
    store: ConversationStore
    make_bot: Any  # tests.slack.conftest.MakeBot
    platform: str = "slack"
    _channel: str = GENERAL  # the current conversation: a channel thread or the DM
    _thread: str | None = ""
    _responses: int = 0
    _reads: int = 0  # reads of the current thread before this bot started
    _last_mention: dict[str, Any] = field(default_factory=dict)
    # What each message a scenario sent says and who sent it (edits and deletions carry both).
    _sent: dict[Ref, tuple[str, str]] = field(default_factory=dict)

    def workspace_id(self) -> str:
        return self.fake.workspace.team_id

    def user_id(self, who: Who) -> str:
        return USERS[who]

    @contextlib.asynccontextmanager
    async def bot(self, *, recover: bool = False, **settings: Any) -> AsyncIterator[None]:
        workspace = self.fake.workspace
        if USERS["listed"] not in workspace.users:
            workspace.add_user(USERS["listed"], "carol", "Carol Example")
        workspace.users[USERS["admin"]].is_admin = True
        self._reads = len(self._thread_reads())
        defaults = {"admin_user_ids": [USERS["listed"]], "history_import_interval": READ_INTERVAL}
        bot = await self.make_bot(recover=recover, **(defaults | settings))
        try:
            yield
            await bot.idle()
        finally:
            await bot.stop()

    async def mention(self, text: str, *, who: Who = "member", files: Sequence[File] = ()) -> Ref:
        ts = await self.start(text, who=who, files=files)
        await self._answered(GENERAL, ts, ts)
        return ts

    async def start(self, text: str, *, who: Who = "member", files: Sequence[File] = ()) -> Ref:
        mention = self.fake.payloads.app_mention(text, user=USERS[who])
        if files:  # Slack's app_mention for a message with uploads carries their files too
            stored = [self.fake.workspace.add_file(f.name, f.data, f.mimetype) for f in files]
            mention |= {"files": [self.fake.workspace.file_json(f) for f in stored], "upload": True}
        self._channel, self._thread = GENERAL, mention["ts"]
        self._last_mention = self.fake.payloads.event_callback(mention)  # keeps its event_id
        self._sent[mention["ts"]] = (mention["text"], USERS[who])
        await self.fake.send_event(self._last_mention)
        return str(mention["ts"])

    async def bot_mentions(self, text: str, *, own: bool) -> None:
        message = self.fake.payloads.bot_message(f"<@{BOT}> {text}", own=own)
        await self.fake.wait_for_ack(await self.fake.send_event(message))

    async def delivered_again(self) -> None:
        # Slack retries an event it thinks unacknowledged: the same event_id again.
        await self.fake.wait_for_ack(await self.fake.send_event(self._last_mention))

    async def mention_unanswered(self, text: str, *, who: Who = "member") -> None:
        await self.fake.send_event(self.fake.payloads.app_mention(text, user=USERS[who]))

    async def follow_up(self, text: str, *, wait: bool = True) -> Ref:
        message = self.fake.payloads.message(text, user=USERS["member"], thread_ts=self._thread)
        self._sent[message["ts"]] = (text, USERS["member"])
        await self.fake.send_event(message)
        if wait:
            await self._answered(GENERAL, self._thread, str(message["ts"]))
        return str(message["ts"])

    async def dm(self, text: str) -> Ref:
        message = self.fake.payloads.message(text, channel=DM, user=USERS["admin"])
        self._channel, self._thread = DM, None
        self._sent[message["ts"]] = (text, USERS["admin"])
        await self.fake.send_event(message)
        await self._answered(DM, None, str(message["ts"]))
        return str(message["ts"])

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

    async def _answered(self, channel: str, thread: str | None, asked: str) -> None:
        """Wait until the question ``asked`` (its ts) has a finished answer: one posted
        after it, no stream still open, and no Stop button left. (A Regenerate button
        would be a clearer sign, but the bot leaves it out when chat.postMessage is
        rate limited, as it may.)"""

        def done() -> bool:
            messages = [m for m in self.fake.messages(channel, thread) if m.user == BOT]
            answered = any(float(m.ts) > float(asked) and not holds_button(m) for m in messages)
            busy = any(m.stream_state == "streaming" or _action(m) == STOP_ACTION for m in messages)
            return answered and not busy

        await self.fake.wait_for(done, what=f"the answer to {self._sent[asked][0]!r}")

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
            fields["thread_ts"] = self._thread or ""
        responses = self.fake.workspace.responses
        before = len(responses)
        await self.fake.send_command(name, text, mode="socket", signature="valid", **fields)
        await self.fake.wait_for(lambda: len(responses) > before, what=f"the answer to {name}")
        answer = responses[before]
        return Said(answer["text"], public=answer.get("response_type") == "in_channel")

    def channel_key(self) -> ThreadKey:
        return ThreadKey("slack", self.fake.workspace.team_id, GENERAL, "")

    async def start_answer(self, text: str, *, who: Who) -> None:
        await self.start(text, who=who)
        await self.wait_button("stop")

    def _holding(self, button: Button) -> Any:
        action = STOP_ACTION if button == "stop" else REGENERATE_ACTION
        found = [
            m
            for m in self.fake.messages(GENERAL, self._thread)
            if m.user == BOT and _action(m) == action
        ]
        return found[-1] if found else None

    async def wait_button(self, button: Button) -> None:
        await self.fake.wait_for(lambda: self._holding(button), what=f"a {button} button")

    async def click(self, button: Button, *, who: Who) -> None:
        await self.wait_button(button)
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
        return [m.body for m in bot_messages(self.fake, self._channel, self._thread)]

    def _streaming(self) -> bool:
        messages = self.fake.messages(self._channel, self._thread)
        return any(m.stream_state == "streaming" for m in messages if m.user == BOT)

    async def until_shown(self, fragment: str) -> str:
        def done() -> bool:
            return fragment in "".join(self.answers()) and not self._streaming()

        await self.fake.wait_for(done, what=f"{fragment!r} shown")
        return "".join(self.answers())

    async def refused(self, text: str, *, files: Sequence[File] = ()) -> str:
        await self.start(text, files=files)  # chats.REFUSAL_OPENS_A_THREAD: in its thread
        await self.fake.wait_for(self.answers, what="the refusal")
        [said] = self.answers()
        return said

    def rendered(self, sentence: str) -> str:
        return render_slack(sentence)

    async def edit(self, ref: Ref, text: str) -> None:
        before, user = self._sent[ref]
        if before.startswith(f"<@{BOT}>"):
            text = f"<@{BOT}> {text}"
        self._sent[ref] = (text, user)
        edit = self.fake.payloads.message_changed(
            channel=self._channel, ts=ref, text=text, previous_text=before, user=user
        )
        await self.fake.wait_for_ack(await self.fake.send_event(edit))

    async def delete(self, ref: Ref) -> None:
        before, user = self._sent[ref]
        deletion = self.fake.payloads.message_deleted(
            channel=self._channel, ts=ref, previous_text=before, user=user
        )
        await self.fake.wait_for_ack(await self.fake.send_event(deletion))

    async def stored(self, ref: Ref) -> Turn | None:
        found = await self.store.find_by_message("slack", f"{self._channel}:{ref}")
        return found.turn if found is not None else None

    async def answer_status(self) -> TurnStatus:
        last = bot_messages(self.fake, self._channel, self._thread)[-1]
        return await settled(self.store, "slack", f"{self._channel}:{last.ts}")

    def times_shown(self) -> int:
        """The text it was posted with, and each append or edit after that."""
        last = bot_messages(self.fake, self._channel, self._thread)[-1]
        log = self.fake.log
        changes = log.calls("chat.appendStream") + log.calls("chat.update")
        return 1 + len([c for c in changes if c.args.get("ts") == last.ts])

    def _thread_reads(self) -> list[Any]:
        reads = self.fake.log.calls("conversations.replies")
        return [r for r in reads if r.args.get("ts") == self._thread and not r.error]

    async def caught_up(self) -> None:
        await self.fake.wait_for(
            lambda: len(self._thread_reads()) > self._reads, what="the catch-up's read"
        )

    async def follow_up_while_down(self, text: str) -> None:
        message = self.fake.payloads.message(text, user=USERS["member"], thread_ts=self._thread)
        self.fake.workspace.record_user_event(message)  # Slack has nobody to tell

    async def until(self, check: Callable[[], object]) -> None:
        await self.fake.wait_for(check)


def _action(message: Any) -> str | None:
    """The action_id of the button a message holds, if it holds one."""
    return message.blocks[0]["elements"][0]["action_id"] if holds_button(message) else None
