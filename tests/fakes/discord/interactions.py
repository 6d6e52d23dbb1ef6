"""Application commands, interaction callbacks and interaction webhooks.

https://discord.com/developers/docs/interactions/receiving-and-responding
https://discord.com/developers/docs/interactions/application-commands

- Callback: POST /interactions/{id}/{token}/callback within the ack deadline
  (3 s) or 404 10062 "Unknown interaction"; a second callback is 400 40060.
  discord.py asks `?with_response=1` and reads an InteractionCallbackResponse
  (discord/webhook/async_.py `create_interaction_response`).
- Callback types: 1 PONG, 4 CHANNEL_MESSAGE_WITH_SOURCE, 5 DEFERRED_CHANNEL_MESSAGE,
  6 DEFERRED_UPDATE_MESSAGE, 7 UPDATE_MESSAGE, 8 AUTOCOMPLETE_RESULT, 9 MODAL.
- Follow-ups: /webhooks/{application_id}/{token}[/messages/@original|{id}] work
  while the token lives (15 min), else 401 50027 "Invalid Webhook Token". After a
  type-5 defer the original is a LOADING "thinking" message; the first follow-up
  replaces it (discord-api-docs#2809 describes that behaviour).
- A follow-up before any callback answers 404 10015 "Unknown Webhook": the
  fake's choice; Discord does not document this case.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .limits import (
    INTERACTION_ALREADY_ACKNOWLEDGED,
    INVALID_WEBHOOK_TOKEN,
    UNKNOWN_APPLICATION,
    UNKNOWN_INTERACTION,
    UNKNOWN_MESSAGE,
    UNKNOWN_WEBHOOK,
    ApiError,
    FormErrors,
)
from .messages import CHANNEL_FLAGS, create_fields, edit_changes
from .model import EPHEMERAL, LOADING, Command, Interaction, Message
from .rest import API, delete_payload
from .wire import Body, json_response, no_content, query_flag, read_body

if TYPE_CHECKING:
    from .gateway import Gateway
    from .payloads import Renderer
    from .state import World

PONG, MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, AUTOCOMPLETE, MODAL = 1, 4, 5, 6, 7, 8, 9
# Which callback types each interaction type accepts (interaction-response-object).
ALLOWED_CALLBACKS = {
    1: {PONG},
    2: {MESSAGE, DEFERRED_MESSAGE, MODAL},
    3: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, MODAL},
    4: {AUTOCOMPLETE},
    5: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE},
}
# CHAT_INPUT names: lowercase, 1-32 characters (application-commands#naming).
_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")
MAX_COMMANDS = 100


class InteractionApi:
    def __init__(self, world: World, render: Renderer, gateway: Gateway) -> None:
        self.world = world
        self.render = render
        self.gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        commands = API + "/applications/{application_id}/commands"
        guild_commands = API + "/applications/{application_id}/guilds/{guild_id}/commands"
        hook = API + "/webhooks/{webhook_id}/{webhook_token}"
        return [
            web.get(commands, self.get_commands),
            web.put(commands, self.put_commands),
            web.get(guild_commands, self.get_commands),
            web.put(guild_commands, self.put_commands),
            web.post(API + "/interactions/{interaction_id}/{token}/callback", self.callback),
            web.post(hook, self.followup),
            web.get(hook + "/messages/{message_id}", self.get_webhook_message),
            web.patch(hook + "/messages/{message_id}", self.edit_webhook_message),
            web.delete(hook + "/messages/{message_id}", self.delete_webhook_message),
        ]

    # -- commands ----------------------------------------------------------

    def _scope(self, request: web.Request) -> int | None:
        if int(request.match_info["application_id"]) != self.world.application_id:
            raise ApiError(404, UNKNOWN_APPLICATION, "Unknown Application")
        guild_id = request.match_info.get("guild_id")
        if guild_id is not None and int(guild_id) not in self.world.guilds:
            raise ApiError(404, 10004, "Unknown Guild")
        return int(guild_id) if guild_id is not None else None

    async def get_commands(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        return json_response([self.render.command(c) for c in self.world.commands.get(scope, [])])

    async def put_commands(self, request: web.Request) -> web.Response:
        """Bulk Overwrite: replaces the whole set; ids survive for the same name+type."""
        scope = self._scope(request)
        try:
            raw = json.loads(await request.read())
        except ValueError:
            raise ApiError(400, 50109, "The request body contains invalid JSON.") from None
        _check_commands(raw)
        old = {(c.name, c.type): c for c in self.world.commands.get(scope, [])}
        commands = []
        for item in raw:
            kind = int(item.get("type") or 1)
            previous = old.get((item["name"], kind))
            command_id = previous.id if previous else self.world.ids.next()
            commands.append(
                Command(command_id, self.world.application_id, scope, item["name"], kind, item)
            )
        self.world.commands[scope] = commands
        self.world.counts["command_syncs"] += 1
        self.world.note("command_sync", {"guild_id": scope, "names": [c.name for c in commands]})
        return json_response([self.render.command(c) for c in commands])

    # -- callback ----------------------------------------------------------

    async def callback(self, request: web.Request) -> web.Response:
        interaction = self.world.interactions.get(int(request.match_info["interaction_id"]))
        if interaction is None or interaction.token != request.match_info["token"]:
            raise ApiError(404, UNKNOWN_INTERACTION, "Unknown interaction")
        late = (
            self.world.clock.time() - interaction.created_at
            > self.world.config.interaction_ack_deadline
        )
        if late or interaction.acknowledged:
            interaction.rejected_callbacks.append(404 if late else 400)
            self.world.counts["late_callbacks" if late else "repeated_callbacks"] += 1
            self.world.note("interaction_rejected", interaction.as_dict())
            if late:
                raise ApiError(404, UNKNOWN_INTERACTION, "Unknown interaction")
            raise ApiError(
                400, INTERACTION_ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged."
            )
        body = await read_body(request, self.world.config.upload_limit)
        kind = int(body.payload.get("type") or 0)
        if kind not in ALLOWED_CALLBACKS.get(interaction.type, set()):
            errors = FormErrors()
            errors.add(
                ["type"],
                "BASE_TYPE_CHOICES",
                f"Value must be one of {sorted(ALLOWED_CALLBACKS[interaction.type])}.",
            )
            errors.raise_if_any()
        data = Body(dict(body.payload.get("data") or {}), body.uploads)
        message = await self._respond(interaction, kind, data)
        interaction.response_type = kind
        interaction.response_data = data.payload
        interaction.responded_at = self.world.clock.time()
        self.world.counts["callbacks"] += 1
        self.world.note("interaction_callback", interaction.as_dict())
        if query_flag(request, "with_response"):
            return json_response(self.render.callback_response(interaction, message))
        return no_content()

    async def _respond(self, interaction: Interaction, kind: int, data: Body) -> Message | None:
        if kind in (MESSAGE, DEFERRED_MESSAGE):
            loading = LOADING if kind == DEFERRED_MESSAGE else 0
            if kind == DEFERRED_MESSAGE:
                data = Body({"flags": data.payload.get("flags", 0)})
            message = await self._post(interaction, data, extra_flags=loading)
            interaction.original_message_id = message.id
            return message
        if kind == UPDATE and interaction.message_id is not None:
            message = self.world.messages[interaction.message_id]
            changes = edit_changes(self.world, message, data)
            self.world.edit_message(message, self.world.bot, changes)  # 50005 if not the app's
            await self.gateway.dispatch_message("MESSAGE_UPDATE", message)
            return message
        return None

    async def _post(self, interaction: Interaction, data: Body, extra_flags: int = 0) -> Message:
        channel = self.world.channels[interaction.channel_id]
        content, extra = create_fields(self.world, channel, data, CHANNEL_FLAGS | EPHEMERAL)
        extra["flags"] |= extra_flags
        message = self.world.create_message(
            channel,
            self.world.bot,
            content,
            webhook_id=self.world.application_id,
            interaction_id=interaction.id,
            type=20 if interaction.type == 2 else 0,  # CHAT_INPUT_COMMAND or DEFAULT
            **extra,
        )
        if not message.flags & EPHEMERAL:
            await self.gateway.dispatch_message("MESSAGE_CREATE", message)
        return message

    # -- follow-ups --------------------------------------------------------

    def _interaction(self, request: web.Request) -> Interaction:
        info = request.match_info
        interaction = self.world.interaction_by_token(info["webhook_token"])
        if interaction is None or int(info["webhook_id"]) != self.world.application_id:
            raise ApiError(404, UNKNOWN_WEBHOOK, "Unknown Webhook")
        if (
            self.world.clock.time() - interaction.created_at
            > self.world.config.interaction_token_ttl
        ):
            raise ApiError(401, INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")
        if not interaction.acknowledged:
            raise ApiError(404, UNKNOWN_WEBHOOK, "Unknown Webhook")
        return interaction

    def _webhook_message(self, interaction: Interaction, ref: str) -> Message:
        if ref == "@original":
            message_id = interaction.original_message_id
            if message_id is None and interaction.type == 3:
                message_id = interaction.message_id  # component: @original is its message
        else:
            message_id = int(ref)
            owned = (
                message_id in interaction.followup_ids
                or message_id == interaction.original_message_id
            )
            message_id = message_id if owned else None
        message = self.world.messages.get(message_id or 0)
        if message is None or message.deleted:
            raise ApiError(404, UNKNOWN_MESSAGE, "Unknown Message")
        return message

    async def followup(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request)
        body = await read_body(request, self.world.config.upload_limit)
        original = self.world.messages.get(interaction.original_message_id or 0)
        if original is not None and original.flags & LOADING:
            message = await self._edit(original, body)
        else:
            message = await self._post(interaction, body)
            interaction.followup_ids.append(message.id)
        self.world.note("interaction_followup", interaction.as_dict())
        if query_flag(request, "wait"):
            return json_response(self.render.message(message))
        return no_content()

    async def get_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request)
        message = self._webhook_message(interaction, request.match_info["message_id"])
        return json_response(self.render.message(message))

    async def edit_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request)
        message = self._webhook_message(interaction, request.match_info["message_id"])
        body = await read_body(request, self.world.config.upload_limit)
        await self._edit(message, body)
        return json_response(self.render.message(message))

    async def _edit(self, message: Message, body: Body) -> Message:
        changes = edit_changes(self.world, message, body)
        changes["flags"] = changes.get("flags", message.flags) & ~LOADING
        self.world.edit_message(message, self.world.bot, changes)
        if not message.flags & EPHEMERAL:
            await self.gateway.dispatch_message("MESSAGE_UPDATE", message)
        return message

    async def delete_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request)
        message = self._webhook_message(interaction, request.match_info["message_id"])
        self.world.delete_message(message)
        if not message.flags & EPHEMERAL:
            await self.gateway.dispatch("MESSAGE_DELETE", delete_payload(message))
        return no_content()


def _check_commands(raw: Any) -> None:
    errors = FormErrors()
    if not isinstance(raw, list):
        errors.add([], "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        errors.raise_if_any()
    if sum(1 for c in raw if int(c.get("type") or 1) == 1) > MAX_COMMANDS:
        errors.add([], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_COMMANDS} or fewer in length.")
    for index, command in enumerate(raw):
        name, kind = str(command.get("name") or ""), int(command.get("type") or 1)
        if kind == 1 and (not _COMMAND_NAME.match(name) or name != name.lower()):
            errors.add(
                [index, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        description = str(command.get("description") or "")
        if kind == 1 and not 1 <= len(description) <= 100:
            errors.add(
                [index, "description"],
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
    errors.raise_if_any()
