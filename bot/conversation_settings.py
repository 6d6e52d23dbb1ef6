"""/model, /system and /reset: where they apply, who may change them, what is said.

Decided once for every platform; an adapter turns a command into a place key
and a ``Changer`` and renders the ``Said`` that comes back.

Where a setting lives: on the conversation the command was given in (a thread,
a DM) or, given in a channel, on the channel. A thread uses its own setting,
else its channel's (``inherited``).

Who may change a model or a system prompt: in a direct message, the person
(it is their own conversation); elsewhere, the platform's channel admins (Discord
members who can manage the channel; Slack workspace admins and owners) and the
people on ``*_ADMIN_USER_IDS``. Anyone may see them, and anyone may choose a
model for one ``/ask``. ``/reset`` is anyone's: it changes only what the next
answer in that one conversation reads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, replace
from enum import StrEnum

from bot import wording
from bot.domain import ConversationSettings, ThreadKey
from bot.models import ModelCatalog
from bot.ports import ConversationStore

__all__ = ["Changer", "Place", "Said", "SettingsDesk", "channel_key", "inherited", "place_of"]


class Place(StrEnum):
    """What a sentence calls the place whose setting a command reads or changes."""

    THREAD = "thread"
    CONVERSATION = "conversation"  # a direct message
    CHANNEL = "channel"


@dataclass(frozen=True, slots=True)
class Changer:
    """Who gives a settings command. ``platform_admin`` is asked only when it matters
    (on Slack it costs a users.info call)."""

    user_id: str
    name: str  # how a public sentence names them
    direct: bool
    platform_admin: Callable[[], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Said:
    """A command's answer; ``public`` ones are shown to everyone in the place."""

    text: str
    public: bool = False


def channel_key(key: ThreadKey) -> ThreadKey:
    """Where channel-wide settings live: the channel's key with no thread."""
    return ThreadKey(key.platform, key.workspace, key.channel, "")


def place_of(key: ThreadKey, *, direct: bool) -> Place:
    if direct and (key.thread == key.channel or not key.thread):
        return Place.CONVERSATION
    return Place.THREAD if key.thread else Place.CHANNEL


async def inherited(store: ConversationStore, key: ThreadKey) -> ConversationSettings:
    """The thread's own settings, each falling back to its channel's."""
    own = await store.settings(key)
    if not key.thread:
        return own
    channel = await store.settings(channel_key(key))
    return ConversationSettings(
        model=own.model or channel.model,
        system_prompt=own.system_prompt or channel.system_prompt,
        temperature=own.temperature if own.temperature is not None else channel.temperature,
        max_tokens=own.max_tokens or channel.max_tokens,
        response_format=own.response_format or channel.response_format,
    )


class SettingsDesk:
    def __init__(
        self,
        store: ConversationStore,
        catalog: ModelCatalog,
        *,
        platform: str,
        admin_user_ids: Collection[str] = (),
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._platform = platform
        self._admins = frozenset(admin_user_ids)

    async def may_change(self, who: Changer) -> bool:
        """May ``who`` change the model or system prompt where they gave the command?"""
        return who.direct or who.user_id in self._admins or await who.platform_admin()

    def refusal(self) -> Said:
        return Said(wording.settings_need_admin(self._platform))

    async def model(self, key: ThreadKey, who: Changer, name: str | None) -> Said:
        """Show the model used here (``name`` None), or choose ``name`` for this place."""
        place = place_of(key, direct=who.direct)
        if not name:
            chosen = (await inherited(self._store, key)).model
            shown = chosen or self._catalog.default_model
            known = self._catalog.names()
            return Said(wording.model_shown(shown, place, is_default=chosen is None, known=known))
        if not self._catalog.knows(name):
            return Said(wording.unknown_model(name, self._catalog.names()))
        if not await self.may_change(who):
            return self.refusal()
        own = await self._store.settings(key)
        await self._store.save_settings(key, replace(own, model=name))
        return Said(wording.model_set(who.name, name, place), public=True)

    async def system(
        self, key: ThreadKey, who: Changer, text: str | None, *, clear: bool = False
    ) -> Said:
        """Show the system prompt used here, set this place's, or clear it."""
        place = place_of(key, direct=who.direct)
        if not text and not clear:
            prompt = (await inherited(self._store, key)).system_prompt
            return Said(wording.system_shown(prompt, place))
        if not await self.may_change(who):
            return self.refusal()
        own = await self._store.settings(key)
        new = None if clear else text
        await self._store.save_settings(key, replace(own, system_prompt=new))
        if clear:
            return Said(wording.system_cleared(who.name, place), public=True)
        return Said(wording.system_set(who.name, place), public=True)

    async def reset(self, key: ThreadKey, *, direct: bool) -> Said:
        """The next message in this conversation starts fresh; a channel holds many."""
        place = place_of(key, direct=direct)
        if place is Place.CHANNEL:
            return Said(wording.reset_in_channel())
        await self._store.reset(key)
        return Said(wording.reset_done(place), public=True)
