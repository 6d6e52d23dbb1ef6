"""The slash commands, with the meanings they have on Discord.

    /ask [--model NAME] [key=value …] prompt
                                 one answer, threaded under a message that quotes the question;
                                 leading temperature=, max_tokens=, format=json, n= words are
                                 this answer's parameters
    /image prompt                the same, answered by the configured image model
    /model [name]                show or set the model of this thread, DM or channel
    /system [text | --clear]     show, set or clear its system prompt
    /reset                       the next message in this thread or DM starts afresh
    /usage                       tokens used today (UTC): by you, here, in the workspace
    /settings [key=value …]      show or set temperature, max_tokens, format (adapters/slack/params.py)

The rules (where a setting lives, who may change it) are ``bot.conversation_settings``.

Slack wants a slash command acknowledged within 3 seconds
(https://docs.slack.dev/interactivity/implementing-slash-commands#responding_to_commands):
the app acknowledges first and runs these afterwards. Slash commands do not
carry a thread, so ``/ask`` posts the question in the channel and answers in
its thread, where the conversation then continues without a mention.
Settings answers are shown to the channel; look-ups only to the person. They go
through the command's ``response_url``; a command without one (Slack always sends
it, a hand-made request may not) is answered with chat.postEphemeral, or
chat.postMessage when the channel should see it.

A command is done once: its ``trigger_id`` is the question's message id, and a
command whose question is stored already (a replay, after a restart too) is
dropped before its question is quoted in the channel again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

import aiohttp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.failures import translated
from adapters.slack.mentions import mrkdwn
from adapters.slack.names import UserNames
from adapters.slack.params import settings_command
from adapters.slack.replies import Replies
from adapters.slack.translate import (
    PLATFORM,
    ReplyPlace,
    SlashCommand,
    asker,
    command_message_id,
)
from bot import wording
from bot.access import AccessLists, may_use
from bot.conversation_settings import Changer, SettingsDesk
from bot.conversations import Conversations
from bot.domain import Incoming, Params, ThreadKey
from bot.errors import ThreadlineError
from bot.models import ModelCatalog
from bot.params import parse_ask_prefix
from bot.redact import Redactor

__all__ = ["COMMANDS", "CommandReply", "SlashCommands", "command_reply", "parse_prompt"]

log = logging.getLogger(__name__)

# (text, shown to the whole channel?) -> posted through the command's response_url
CommandReply = Callable[[str, bool], Awaitable[None]]

COMMANDS = ("/ask", "/image", "/model", "/system", "/reset", "/usage", "/settings")

NO_PARAMS = Params()
_MODEL_FLAG = re.compile(r"(?:^|\s)--model(?:\s+|=)(\S+)")


def parse_prompt(text: str) -> tuple[str, str | None]:
    """``/ask`` text as (prompt, model): ``--model NAME`` may stand anywhere in it."""
    match = _MODEL_FLAG.search(text)
    if match is None:
        return text.strip(), None
    return (text[: match.start()] + " " + text[match.end() :]).strip(), match.group(1)


def command_reply(
    client: AsyncWebClient, command: SlashCommand, respond: AsyncRespond, redact: Redactor
) -> CommandReply:
    """Where ``command``'s answers go: its ``response_url``, else the Web API (whose
    calls are redacted on their own; the response_url is not the Web API, so here)."""

    async def reply(text: str, public: bool) -> None:
        text = redact(text)
        if respond.response_url and await _responded(respond, text, public):
            return
        channel, thread = command.channel_id, command.thread_ts
        with translated(channel):
            if public:
                await client.chat_postMessage(channel=channel, thread_ts=thread, text=text)
            else:
                await client.chat_postEphemeral(
                    channel=channel, user=command.user_id, thread_ts=thread, text=text
                )

    return reply


async def _responded(respond: AsyncRespond, text: str, public: bool) -> bool:
    """Post through the ``response_url``; False when it did not take the answer.

    A response_url takes 5 answers within 30 minutes
    (https://docs.slack.dev/interactivity/handling-user-interaction#message_responses).
    """
    try:
        response = await respond(text=text, response_type="in_channel" if public else "ephemeral")
    except (aiohttp.ClientError, TimeoutError) as error:
        log.info("a command's response_url failed (%s); answering through the Web API", error)
        return False
    if response.status_code != 200:
        log.info(
            "a command's response_url answered %d; answering through the Web API",
            response.status_code,
        )
        return False
    return True


class SlashCommands:
    def __init__(
        self,
        *,
        catalog: ModelCatalog,
        replies: Replies,
        names: UserNames,
        lists: AccessLists,
        desk: SettingsDesk,
        conversations: Conversations,
    ) -> None:
        self._lists = lists
        self._desk = desk
        self._conversations = conversations
        self._catalog = catalog
        self._replies = replies
        self._names = names

    async def run(self, command: SlashCommand, reply: CommandReply) -> None:
        handlers = {
            "/ask": self._ask,
            "/image": self._image,
            "/model": self._model,
            "/system": self._system,
            "/reset": self._reset,
            "/usage": self._usage,
            "/settings": self._settings,
        }
        handler = handlers.get(command.name)
        if handler is None:
            return
        if not may_use(self._lists, asker(command.team_id, command.channel_id, command.user_id)):
            await reply(wording.not_allowed(), False)
            return
        try:
            await handler(command, reply)
        except ThreadlineError as error:
            await reply(error.user_message, False)

    # -- answers -------------------------------------------------------------------

    async def _ask(self, command: SlashCommand, reply: CommandReply) -> None:
        prompt, model = parse_prompt(command.text)
        params, prompt = parse_ask_prefix(prompt)
        if model is not None and not self._catalog.knows(model):
            await reply(wording.unknown_model(model, self._catalog.names()), False)
            return
        refused = self._replies.params.refusal(params, model)
        if refused is not None:  # nothing posted, nothing asked
            await reply(refused, False)
            return
        await self._answer(command, reply, prompt, model, params)

    async def _image(self, command: SlashCommand, reply: CommandReply) -> None:
        await self._answer(command, reply, command.text, self._catalog.image_model)

    async def _answer(
        self,
        command: SlashCommand,
        reply: CommandReply,
        prompt: str,
        model: str | None,
        params: Params = NO_PARAMS,
    ) -> None:
        if not prompt:
            await reply(wording.slack_empty_prompt(command.name), False)
            return
        if await self._asked_before(command):
            return
        thread = command.thread_ts
        if thread is None:  # post the question, and answer in its thread
            quote = wording.slack_asked(command.user_id, mrkdwn(prompt), model)
            anchor = ReplyPlace(command.channel_id, None, command.user_id, command.team_id)
            thread = (await self._replies.target(anchor).post(quote)).id
        place = ReplyPlace(command.channel_id, thread, command.user_id, command.team_id)
        incoming = Incoming(
            key=ThreadKey(PLATFORM, command.team_id, command.channel_id, thread),
            message_id=command_message_id(command.trigger_id),
            author_id=command.user_id,
            author_name=await self._names.name(command.user_id),
            text=prompt,
            model=model,
            params=params,
        )
        result = await self._replies.answer(incoming, place)
        if result.candidates:  # /ask n=3: a Keep button per candidate
            await self._replies.offer_keep(place, result.candidates)

    async def _asked_before(self, command: SlashCommand) -> bool:
        """The command's question is stored: it was answered (or is being answered)."""
        if not command.trigger_id:
            return False
        found = await self._conversations.find(PLATFORM, command_message_id(command.trigger_id))
        if found is not None:
            log.info("dropped a repeated %s (trigger %s)", command.name, command.trigger_id)
        return found is not None

    # -- settings ------------------------------------------------------------------

    async def _model(self, command: SlashCommand, reply: CommandReply) -> None:
        said = await self._desk.model(_settings_key(command), self._changer(command), command.text)
        await reply(said.text, said.public)

    async def _system(self, command: SlashCommand, reply: CommandReply) -> None:
        text, clear = parse_clear(command.text)
        said = await self._desk.system(
            _settings_key(command), self._changer(command), text, clear=clear
        )
        await reply(said.text, said.public)

    async def _reset(self, command: SlashCommand, reply: CommandReply) -> None:
        said = await self._desk.reset(_settings_key(command), direct=command.direct)
        await reply(said.text, said.public)

    def _changer(self, command: SlashCommand) -> Changer:
        user = command.user_id
        return Changer(
            user_id=user,
            name=f"<@{user}>",
            direct=command.direct,
            platform_admin=lambda: self._names.is_admin(user),
        )

    async def _settings(self, command: SlashCommand, reply: CommandReply) -> None:
        changing = bool(command.text.strip())  # who may change: the same rule as /model
        if changing and not await self._desk.may_change(self._changer(command)):
            await reply(self._desk.refusal().text, False)
            return
        await reply(*await settings_command(self._replies.params, command))

    async def _usage(self, command: SlashCommand, reply: CommandReply) -> None:
        # The place's key: only its workspace and channel matter for the figures.
        place = ThreadKey(PLATFORM, command.team_id, command.channel_id, "")
        report = await self._replies.usage(place, command.user_id)
        await reply(wording.usage_report(report, "workspace"), False)


def _settings_key(command: SlashCommand) -> ThreadKey:
    """The conversation a command was given in (a thread, a DM's top level), or its
    channel, where channel-wide settings live."""
    if command.thread_ts is not None:
        thread = command.thread_ts
    elif command.direct:
        thread = command.channel_id  # a DM's top level is one conversation
    else:
        thread = ""
    return ThreadKey(PLATFORM, command.team_id, command.channel_id, thread)


def parse_clear(text: str) -> tuple[str | None, bool]:
    """``/system`` text as (prompt, clear?): ``--clear`` goes back to the default."""
    stripped = text.strip()
    if stripped == "--clear":
        return None, True
    return stripped or None, False
