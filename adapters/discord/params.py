"""``/settings``: show or set this place's API parameters (bot/params.py decides).

Discord checks an option's ``min_value``/``max_value`` and ``choices`` in the
client (https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-option-structure);
the core checks them again, since a crafted request skips the client. Where the
values live is the same as ``/model``: in a thread or DM on that conversation,
in a channel on the channel, where its threads inherit them. Who may change them is
the same as for ``/model`` (bot/conversation_settings.py); anyone may look.
"""

from __future__ import annotations

from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from adapters.discord.target import NO_PINGS
from adapters.discord.translate import changer_of, may_use, place_key, place_kind, requester_of
from bot import wording
from bot.conversation_settings import SettingsDesk
from bot.errors import InputError
from bot.params import Changes
from bot.service import ReplyService
from bot.settings import DiscordSettings

Interaction = discord.Interaction[Any]

# Discord's integer options stop at 2^53 (the option structure above); the core
# checks the model's own context size.
MAX_TOKENS_OPTION = 2**53
Temperature = app_commands.Range[float, 0.0, 2.0]
MaxTokens = app_commands.Range[int, 1, MAX_TOKENS_OPTION]


class ParamsCommands(commands.Cog):
    def __init__(
        self, *, settings: DiscordSettings, service: ReplyService, desk: SettingsDesk
    ) -> None:
        self._settings = settings
        self._service = service
        self._desk = desk  # who may change a place's settings: the same rule as /model

    @app_commands.command(
        name="settings", description="Show or set temperature, max_tokens and response_format here."
    )
    @app_commands.describe(
        temperature="0 to 2: higher is more varied",
        max_tokens="At most this many tokens per answer",
        response_format="text, or json_object for answers in JSON",
        clear="Forget this place's values: inherit the channel's or the defaults",
    )
    async def settings(
        self,
        interaction: Interaction,
        temperature: Temperature | None = None,
        max_tokens: MaxTokens | None = None,
        response_format: Literal["text", "json_object"] | None = None,
        clear: bool = False,
    ) -> None:
        if not may_use(self._settings, requester_of(interaction.user, interaction.channel)):
            await _tell(interaction, wording.not_allowed(), at_once=True)
            return
        changes: Changes = {
            name: value
            for name, value in (
                ("temperature", temperature),
                ("max_tokens", max_tokens),
                ("response_format", response_format),
            )
            if value is not None
        }
        looking = not changes and not clear
        if not looking and not await self._desk.may_change(changer_of(interaction)):
            await _tell(interaction, self._desk.refusal().text, at_once=True)
            return
        await interaction.response.defer(ephemeral=looking, thinking=True)
        key, place = place_key(interaction.channel), place_kind(interaction.channel)
        desk, who = self._service.params, interaction.user.display_name
        try:
            if looking:
                sentence = await desk.show(key, place, "discord")
            elif clear:
                sentence = await desk.clear(key, place, who)
            else:
                sentence = await desk.change(key, place, changes, who)
        except InputError as error:
            sentence = error.user_message
        await _tell(interaction, sentence, at_once=False)


async def _tell(interaction: Interaction, sentence: str, *, at_once: bool) -> None:
    if at_once:
        await interaction.response.send_message(sentence, ephemeral=True, allowed_mentions=NO_PINGS)
    else:
        await interaction.followup.send(sentence, allowed_mentions=NO_PINGS)
