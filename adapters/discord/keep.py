"""Keep buttons under an ``n`` candidates answer: ``threadline:keep:<turn id>:<number>``.

A ``DynamicItem`` like Stop and Regenerate (adapters/discord/views.py): the turn
and the candidate's number live in the ``custom_id`` (at most 100 characters,
https://discord.com/developers/docs/components/reference#button), so a click works
after a restart. What keeping means is decided in the core (bot/candidates.py).
"""

from __future__ import annotations

import re
from typing import Any, Protocol, Self, runtime_checkable

import discord

from adapters.discord.views import RegenerateButton
from bot import wording

# A row holds five buttons (https://discord.com/developers/docs/components/reference#action-row):
# Regenerate and up to four Keep buttons (bot.params.MAX_CANDIDATES) fit in one.


@runtime_checkable
class KeepHandler(Protocol):
    async def keep_clicked(
        self, interaction: discord.Interaction[Any], turn_id: int, number: int
    ) -> None: ...


class KeepButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"threadline:keep:(?P<turn>[0-9]{1,19}):(?P<number>[1-9])",
):
    def __init__(self, turn_id: int, number: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=wording.keep_label(number),
                emoji="📌",
                style=discord.ButtonStyle.secondary,
                custom_id=f"threadline:keep:{turn_id}:{number}",
            )
        )
        self.turn_id = turn_id
        self.number = number

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(int(match["turn"]), int(match["number"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler = getattr(interaction.client, "buttons", None)
        if isinstance(handler, KeepHandler):
            await handler.keep_clicked(interaction, self.turn_id, self.number)


def candidate_controls(answer_id: int, candidates: tuple[int, ...]) -> discord.ui.View:
    """Regenerate, then one Keep button per candidate, under the answer's last message."""
    view = discord.ui.View(timeout=None)
    view.add_item(RegenerateButton(answer_id))
    for number, turn_id in enumerate(candidates, start=1):
        view.add_item(KeepButton(turn_id, number))
    return view
