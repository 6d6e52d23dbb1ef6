"""The buttons under an answer: Stop while it streams, Regenerate once it is done.

Both are ``discord.ui.DynamicItem``s: the state lives in the button's
``custom_id`` and discord.py matches incoming clicks against the template, so a
button keeps working after a restart without remembering any view
(discord/ui/dynamic.py; ``Client.add_dynamic_items`` registers them). A view
made only of dynamic items is not kept in discord.py's view store either
(discord/ui/view.py ``ViewStore.add_view``), so sending thousands costs no memory.

- Stop: ``threadline:stop:<request>``, the request being the message or
  interaction that asked; the running answer is found by it.
- Regenerate: ``threadline:regenerate:<turn id>``, the stored answer turn.

custom_id is at most 100 characters
(https://discord.com/developers/docs/components/reference#button).
"""

from __future__ import annotations

import re
from typing import Any, Protocol, Self, runtime_checkable

import discord

from bot import wording


@runtime_checkable
class ButtonHandler(Protocol):
    """What a click is handed to (the bot's ``buttons`` attribute)."""

    async def stop_clicked(
        self, interaction: discord.Interaction[Any], request_id: str
    ) -> None: ...

    async def regenerate_clicked(
        self, interaction: discord.Interaction[Any], turn_id: int
    ) -> None: ...


def _button(label: str, emoji: str, custom_id: str) -> discord.ui.Button[discord.ui.View]:
    """A grey button whose ``custom_id`` survives restarts (the DynamicItem templates)."""
    return discord.ui.Button(
        label=label, emoji=emoji, style=discord.ButtonStyle.secondary, custom_id=custom_id
    )


def _handler(interaction: discord.Interaction[Any]) -> ButtonHandler | None:
    handler = getattr(interaction.client, "buttons", None)
    return handler if isinstance(handler, ButtonHandler) else None


class StopButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"threadline:stop:(?P<request>[0-9a-z:]{1,80})",
):
    def __init__(self, request_id: str) -> None:
        super().__init__(
            _button(wording.STOP_LABEL, wording.STOP_EMOJI, f"threadline:stop:{request_id}")
        )
        self.request_id = request_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(match["request"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler = _handler(interaction)
        if handler is not None:
            await handler.stop_clicked(interaction, self.request_id)


class RegenerateButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"threadline:regenerate:(?P<turn>[0-9]{1,19})",
):
    def __init__(self, turn_id: int) -> None:
        super().__init__(
            _button(
                wording.REGENERATE_LABEL,
                wording.REGENERATE_EMOJI,
                f"threadline:regenerate:{turn_id}",
            )
        )
        self.turn_id = turn_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(int(match["turn"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler = _handler(interaction)
        if handler is not None:
            await handler.regenerate_clicked(interaction, self.turn_id)


def stop_controls(request_id: str) -> discord.ui.View:
    """The view carried by an answer's first message while it streams."""
    view = discord.ui.View(timeout=None)
    view.add_item(StopButton(request_id))
    return view


def regenerate_controls(turn_id: int) -> discord.ui.View:
    """The view under a finished answer's last message."""
    view = discord.ui.View(timeout=None)
    view.add_item(RegenerateButton(turn_id))
    return view
