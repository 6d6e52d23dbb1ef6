"""The slash commands: /ask, /image, /model, /system, /reset, /usage.

Discord drops an interaction that is not answered within 3 seconds
(https://discord.com/developers/docs/interactions/receiving-and-responding#responding-to-an-interaction),
so every command either answers at once from memory (a refusal) or defers
first, before any I/O; the answer then goes through the interaction's webhook,
whose token lives 15 minutes. /ask and /image stream into that follow-up.

Where settings live and who may change them: ``bot.conversation_settings``
(the same rules as on Slack).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from adapters.discord.answers import AnswerRunner
from adapters.discord.files import read_files
from adapters.discord.params import MaxTokens, Temperature
from adapters.discord.target import NO_PINGS, InteractionTarget
from adapters.discord.translate import (
    changer_of,
    incoming,
    interaction_message_id,
    is_conversation_place,
    may_use,
    place_key,
    requester_of,
    started_here_key,
)
from adapters.discord.views import stop_controls
from bot import wording
from bot.conversation_settings import Changer, Place, SettingsDesk, place_of
from bot.domain import Params
from bot.fetch import Downloader
from bot.files import FileLimits, with_files
from bot.models import ModelCatalog
from bot.params import MAX_CANDIDATES
from bot.service import ReplyService
from bot.settings import DiscordSettings

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]

# Autocomplete answers at most 25 choices
# (https://discord.com/developers/docs/interactions/application-commands#autocomplete).
MAX_CHOICES = 25
NO_PARAMS = Params()


class ThreadlineCommands(commands.Cog):
    def __init__(
        self,
        *,
        settings: DiscordSettings,
        service: ReplyService,
        catalog: ModelCatalog,
        runner: AnswerRunner,
        downloader: Downloader,
        desk: SettingsDesk,
    ) -> None:
        self._desk = desk
        self._settings = settings
        self._service = service
        self._catalog = catalog
        self._runner = runner
        self._limits = FileLimits(settings.max_image_bytes, settings.max_text_file_bytes)
        self._downloader = downloader

    # -- asking ----------------------------------------------------------------------

    @app_commands.command(name="ask", description="Ask the model; the answer streams here.")
    @app_commands.describe(
        prompt="Your question",
        model="Answer with this model instead of this channel's",
        image="An image (or a text file) to ask about",
        temperature="0 to 2 for this answer: higher is more varied",
        max_tokens="At most this many tokens in this answer",
        json="Ask for the answer as a JSON object",
        n="How many candidate answers to compare (keep one)",
    )
    async def ask(
        self,
        interaction: Interaction,
        prompt: str,
        model: str | None = None,
        image: discord.Attachment | None = None,
        temperature: Temperature | None = None,
        max_tokens: MaxTokens | None = None,
        json: bool | None = None,
        n: app_commands.Range[int, 1, MAX_CANDIDATES] | None = None,
    ) -> None:
        fmt = None if json is None else ("json_object" if json else "text")
        await self._ask(interaction, prompt, model, image, Params(temperature, max_tokens, fmt, n))

    @ask.autocomplete("model")
    async def _ask_model(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self._model_choices(current)

    @app_commands.command(name="image", description="Make or change an image with the image model.")
    @app_commands.describe(
        prompt="What to draw, or how to change the image", image="An image to start from"
    )
    async def image(
        self, interaction: Interaction, prompt: str, image: discord.Attachment | None = None
    ) -> None:
        await self._ask(interaction, prompt, self._catalog.image_model, image)

    async def _ask(
        self,
        interaction: Interaction,
        prompt: str,
        model: str | None,
        attachment: discord.Attachment | None,
        params: Params = NO_PARAMS,
    ) -> None:
        if not await self._admitted(interaction):
            return
        if model is not None and not self._catalog.knows(model):
            await self._refuse(interaction, wording.unknown_model(model, self._catalog.names()))
            return
        refused = self._service.params.refusal(params, model)
        if refused is not None:
            await self._refuse(interaction, refused)
            return
        await interaction.response.defer(thinking=True)
        self._runner.spawn(
            self._answer(interaction, prompt, model, attachment, params),
            f"discord-ask-{interaction.id}",
        )

    async def _answer(
        self,
        interaction: Interaction,
        prompt: str,
        model: str | None,
        attachment: discord.Attachment | None,
        params: Params = NO_PARAMS,
    ) -> None:
        files = await read_files([attachment] if attachment else [], self._limits, self._downloader)
        if files.refusal is not None:
            await self._reply(interaction, files.refusal)
            return
        channel = interaction.channel
        place = place_key(channel)
        key = place if is_conversation_place(channel) else started_here_key(place, interaction.id)
        request_id = interaction_message_id(interaction.id)
        asked = incoming(
            key,
            message_id=request_id,
            author=interaction.user,
            text=with_files(prompt, files.texts),
            images=files.images,
            model=model,
        )
        asked = dataclasses.replace(asked, params=params)
        target = InteractionTarget(interaction, controls=stop_controls(request_id))
        await self._runner.answer(
            asked, target, request_id=request_id, requester_id=interaction.user.id
        )

    # -- settings --------------------------------------------------------------------

    @app_commands.command(name="model", description="Show or choose the model that answers here.")
    @app_commands.describe(name="The model to use from now on (leave out to see the current one)")
    async def model(self, interaction: Interaction, name: str | None = None) -> None:
        if not await self._admitted(interaction):
            return
        who = changer_of(interaction)
        if name is not None:
            if not self._catalog.knows(name):
                await self._refuse(interaction, wording.unknown_model(name, self._catalog.names()))
                return
            if not await self._may_change(interaction, who):
                return
        await interaction.response.defer(ephemeral=name is None, thinking=True)
        said = await self._desk.model(place_key(interaction.channel), who, name)
        await self._reply(interaction, said.text)

    @model.autocomplete("name")
    async def _model_name(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self._model_choices(current)

    @app_commands.command(name="system", description="Show or set the system prompt used here.")
    @app_commands.describe(
        text="The new system prompt", clear="Go back to the default system prompt"
    )
    async def system(
        self, interaction: Interaction, text: str | None = None, clear: bool = False
    ) -> None:
        if not await self._admitted(interaction):
            return
        who = changer_of(interaction)
        changing = text is not None or clear
        if changing and not await self._may_change(interaction, who):
            return
        await interaction.response.defer(ephemeral=not changing, thinking=True)
        said = await self._desk.system(place_key(interaction.channel), who, text, clear=clear)
        await self._reply(interaction, said.text)

    @app_commands.command(
        name="reset", description="Start a fresh conversation with the next message."
    )
    async def reset(self, interaction: Interaction) -> None:
        if not await self._admitted(interaction):
            return
        key = place_key(interaction.channel)
        direct = interaction.guild_id is None
        if place_of(key, direct=direct) is Place.CHANNEL:  # nothing to reset: say so at once
            await self._refuse(interaction, (await self._desk.reset(key, direct=direct)).text)
            return
        await interaction.response.defer(thinking=True)
        said = await self._desk.reset(key, direct=direct)
        await self._reply(interaction, said.text)

    @app_commands.command(name="usage", description="Tokens used today by you and here.")
    async def usage(self, interaction: Interaction) -> None:
        if not await self._admitted(interaction):
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await self._service.usage(place_key(interaction.channel), str(interaction.user.id))
        sentence = wording.usage_report(report, "server")
        await self._reply(interaction, sentence)

    # -- helpers ---------------------------------------------------------------------

    def _model_choices(self, current: str) -> list[app_commands.Choice[str]]:
        wanted = current.strip().lower()
        names = [name for name in self._catalog.names() if wanted in name.lower()]
        return [app_commands.Choice(name=name, value=name) for name in names[:MAX_CHOICES]]

    async def _may_change(self, interaction: Interaction, who: Changer) -> bool:
        """Refuse at once (visible only to the user) when ``who`` may not change settings."""
        if await self._desk.may_change(who):
            return True
        await self._refuse(interaction, self._desk.refusal().text)
        return False

    async def _admitted(self, interaction: Interaction) -> bool:
        if may_use(self._settings, requester_of(interaction.user, interaction.channel)):
            return True
        await self._refuse(interaction, wording.not_allowed())
        return False

    @staticmethod
    async def _refuse(interaction: Interaction, sentence: str) -> None:
        """Answer at once, visible only to the user: nothing to defer."""
        await interaction.response.send_message(sentence, ephemeral=True, allowed_mentions=NO_PINGS)

    @staticmethod
    async def _reply(interaction: Interaction, sentence: str) -> None:
        """The follow-up of a deferred command: it replaces "is thinking…"."""
        try:
            await interaction.followup.send(sentence, allowed_mentions=NO_PINGS)
        except discord.HTTPException as error:
            log.warning(
                "could not answer /%s: %s",
                interaction.command.name if interaction.command else "?",
                error,
            )
