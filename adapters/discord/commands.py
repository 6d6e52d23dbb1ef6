"""The slash commands: /ask, /image, /model, /system, /reset, /usage.

Discord drops an interaction that is not answered within 3 seconds
(https://discord.com/developers/docs/interactions/receiving-and-responding#responding-to-an-interaction),
so every command either answers at once from memory (a refusal) or defers
first, before any I/O; the answer then goes through the interaction's webhook,
whose token lives 15 minutes. /ask and /image stream into that follow-up.

Where settings live: in a thread or a DM, on that conversation; in a channel,
on the channel, where every thread of it finds them
(``ReplyService.settings_for``).
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
    incoming,
    interaction_message_id,
    is_conversation_place,
    may_use,
    place_key,
    place_kind,
    requester_of,
    started_here_key,
)
from adapters.discord.views import stop_controls
from bot import wording
from bot.domain import Params, ThreadKey
from bot.files import FileLimits, with_files
from bot.models import ModelCatalog
from bot.params import MAX_CANDIDATES
from bot.ports import ConversationStore
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
        store: ConversationStore,
        catalog: ModelCatalog,
        runner: AnswerRunner,
    ) -> None:
        self._settings = settings
        self._service = service
        self._store = store
        self._catalog = catalog
        self._runner = runner
        self._limits = FileLimits(settings.max_image_bytes, settings.max_text_file_bytes)

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
            await self._refuse(
                interaction, wording.discord_unknown_model(model, self._catalog.names())
            )
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
        files = await read_files([attachment] if attachment else [], self._limits)
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
        if name is not None and not self._catalog.knows(name):
            await self._refuse(
                interaction, wording.discord_unknown_model(name, self._catalog.names())
            )
            return
        await interaction.response.defer(ephemeral=name is None, thinking=True)
        key, place = self._settings_key(interaction)
        if name is None:
            chosen = (await self._service.settings_for(key)).model
            shown = chosen or self._catalog.default_model
            sentence = wording.discord_model_shown(shown, place, is_default=chosen is None)
        else:
            own = await self._store.settings(key)
            await self._store.save_settings(key, dataclasses.replace(own, model=name))
            sentence = wording.discord_model_set(interaction.user.display_name, name, place)
        await self._reply(interaction, sentence)

    @model.autocomplete("name")
    async def _model_name(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self._model_choices(current)

    @app_commands.command(name="system", description="Show or set the system prompt used here.")
    @app_commands.describe(
        text="The new system prompt", clear="Go back to the default system prompt"
    )
    # Hidden from members without Manage Channels unless a server admin says otherwise
    # (https://discord.com/developers/docs/interactions/application-commands#permissions);
    # checked again below, since those overrides can widen it.
    @app_commands.default_permissions(manage_channels=True)
    async def system(
        self, interaction: Interaction, text: str | None = None, clear: bool = False
    ) -> None:
        if not await self._admitted(interaction):
            return
        if interaction.guild_id is not None and not interaction.permissions.manage_channels:
            await self._refuse(interaction, wording.discord_needs_manage_channels())
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        key, place = self._settings_key(interaction)
        if text is None and not clear:
            prompt = (await self._service.settings_for(key)).system_prompt
            await self._reply(interaction, wording.discord_system_shown(prompt, place))
            return
        own = await self._store.settings(key)
        new = None if clear else text
        await self._store.save_settings(key, dataclasses.replace(own, system_prompt=new))
        done = wording.discord_system_cleared(place) if clear else wording.discord_system_set(place)
        await self._reply(interaction, done)

    @app_commands.command(
        name="reset", description="Start a fresh conversation with the next message."
    )
    async def reset(self, interaction: Interaction) -> None:
        if not await self._admitted(interaction):
            return
        await interaction.response.defer(thinking=True)
        await self._store.reset(place_key(interaction.channel))
        await self._reply(interaction, wording.discord_reset_done())

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

    @staticmethod
    def _settings_key(interaction: Interaction) -> tuple[ThreadKey, str]:
        """The conversation (thread, DM) or channel whose settings a command changes."""
        channel = interaction.channel
        return place_key(channel), place_kind(channel)

    async def _admitted(self, interaction: Interaction) -> bool:
        if may_use(self._settings, requester_of(interaction.user, interaction.channel)):
            return True
        await self._refuse(interaction, wording.discord_not_allowed())
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
