"""May this person use threadline here: one decision for every platform.

The adapters turn a platform payload into an ``Asker`` (who, in which
workspace, which places, holding which roles) and the settings into
``AccessLists``; ``may_use`` decides. The rules, the same everywhere:

- a block always wins: a blocked user, role, workspace or place is refused,
  even when an allow-list names them too;
- an empty allow-list allows everyone; people pass when they are on the user
  list *or* hold an allowed role; places pass when both the workspace and the
  place lists allow them;
- a direct message has no places (and, on Discord, no workspace or roles):
  it passes when DMs are allowed and the person (and a known workspace) does.

A Discord place is a channel, a thread's parent or a category; a Slack place is
a channel (a thread counts as its channel). A Slack DM still belongs to its
workspace, so the team lists apply to it; a Discord DM belongs to no server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass

from bot.settings import DiscordSettings, SlackSettings

__all__ = ["AccessLists", "Asker", "discord_lists", "may_stop", "may_use", "slack_lists"]


@dataclass(frozen=True, slots=True)
class Asker:
    """Who asks, and where. ``workspace`` is "" where there is none (a Discord DM)."""

    user_id: str
    workspace: str
    places: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    direct: bool = False


@dataclass(frozen=True, slots=True)
class AccessLists:
    allowed_workspaces: frozenset[str] = frozenset()
    blocked_workspaces: frozenset[str] = frozenset()
    allowed_places: frozenset[str] = frozenset()
    blocked_places: frozenset[str] = frozenset()
    allowed_users: frozenset[str] = frozenset()
    blocked_users: frozenset[str] = frozenset()
    allowed_roles: frozenset[str] = frozenset()
    blocked_roles: frozenset[str] = frozenset()
    allow_dms: bool = True


def may_use(lists: AccessLists, who: Asker) -> bool:
    """True if the lists let ``who`` use threadline here. Blocks always win."""
    if who.user_id in lists.blocked_users or who.roles & lists.blocked_roles:
        return False
    if who.workspace in lists.blocked_workspaces or who.places & lists.blocked_places:
        return False
    people = lists.allowed_users or lists.allowed_roles
    person_ok = not people or (
        who.user_id in lists.allowed_users or bool(who.roles & lists.allowed_roles)
    )
    workspace_ok = not lists.allowed_workspaces or who.workspace in lists.allowed_workspaces
    if who.direct:
        return lists.allow_dms and person_ok and (not who.workspace or workspace_ok)
    place_ok = not lists.allowed_places or bool(who.places & lists.allowed_places)
    return person_ok and workspace_ok and place_ok


def _ids(values: Iterable[int | str]) -> frozenset[str]:
    return frozenset(str(value) for value in values)


def discord_lists(settings: DiscordSettings) -> AccessLists:
    return AccessLists(
        allowed_workspaces=_ids(settings.allowed_guild_ids),
        blocked_workspaces=_ids(settings.blocked_guild_ids),
        allowed_places=_ids(settings.allowed_channel_ids),
        blocked_places=_ids(settings.blocked_channel_ids),
        allowed_users=_ids(settings.allowed_user_ids),
        blocked_users=_ids(settings.blocked_user_ids),
        allowed_roles=_ids(settings.allowed_role_ids),
        blocked_roles=_ids(settings.blocked_role_ids),
        allow_dms=settings.allow_dms,
    )


def slack_lists(settings: SlackSettings) -> AccessLists:
    return AccessLists(
        allowed_workspaces=_ids(settings.allowed_team_ids),
        blocked_workspaces=_ids(settings.blocked_team_ids),
        allowed_places=_ids(settings.allowed_channel_ids),
        blocked_places=_ids(settings.blocked_channel_ids),
        allowed_users=_ids(settings.allowed_user_ids),
        blocked_users=_ids(settings.blocked_user_ids),
        allow_dms=settings.allow_dms,
    )


async def may_stop(
    user_id: str,
    *,
    requester_id: str,
    admin_user_ids: Collection[str],
    platform_admin: Callable[[], Awaitable[bool]],
) -> bool:
    """May ``user_id`` stop an answer: the person who asked, someone on ``*_ADMIN_USER_IDS``,
    or a platform admin (Discord: Manage Messages; Slack: a workspace admin or owner),
    asked last because on Slack it costs a users.info call."""
    return user_id == requester_id or user_id in admin_user_ids or await platform_admin()
