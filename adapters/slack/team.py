"""Everything that answers one Slack workspace, with that workspace's bot token.

One deployment may serve many workspaces (OAuth installs, installs.py): each gets
its own Web API client (its token), its own edit budget (``chat.update`` is Tier 3
per app per workspace), its own ``chat.appendStream`` budget and file downloads,
and the parts that answer its events, commands and clicks. ``open_team`` builds
them and hands their lifetimes to the caller's exit stack.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.assistant import AssistantThreads
from adapters.slack.catchup import CatchUp
from adapters.slack.clicks import Clicks
from adapters.slack.commands import SlashCommands
from adapters.slack.events import EventHandler
from adapters.slack.files import FileReader, slack_downloader
from adapters.slack.history import ThreadHistory
from adapters.slack.names import UserNames
from adapters.slack.native import NativeStreams, StreamOptions
from adapters.slack.pacer import MethodPacer
from adapters.slack.redaction import redact_every_call
from adapters.slack.replies import Replies
from adapters.slack.translate import PLATFORM, BotIdentity
from bot.access import slack_lists
from bot.conversations import Conversations
from bot.coordination import Coordination
from bot.files import FileLimits
from bot.models import ModelCatalog
from bot.ports import Clock
from bot.redact import Redactor
from bot.service import ReplyService
from bot.settings import Settings
from bot.shared_budget import SharedBudget
from bot.streaming import SLACK_BUDGET, EditScheduler

__all__ = ["Shared", "Team", "open_team", "team_client"]


@dataclass(frozen=True, slots=True)
class Shared:
    """What every workspace's parts are built from."""

    settings: Settings
    service: ReplyService
    conversations: Conversations
    catalog: ModelCatalog
    clock: Clock
    redact: Redactor
    session: aiohttp.ClientSession
    # Several workers (REDIS_URL): each workspace's tiers are spent together through it.
    budgets: Coordination | None = None


@dataclass(frozen=True, slots=True)
class Team:
    token: str
    client: AsyncWebClient
    me: BotIdentity
    scheduler: EditScheduler
    events: EventHandler
    clicks: Clicks
    commands: SlashCommands
    replies: Replies
    catchup: CatchUp


def team_client(shared: Shared, token: str | None) -> AsyncWebClient:
    """A Web API client on the shared session, every call's errors redacted."""
    client = AsyncWebClient(
        token=token, base_url=shared.settings.slack.api_url, session=shared.session
    )
    redact_every_call(client, shared.redact)
    return client


async def open_team(
    stack: contextlib.AsyncExitStack, shared: Shared, token: str, me: BotIdentity
) -> Team:
    """Build one workspace's parts; ``stack`` closes them (streams, downloads, catch-up)."""
    slack = shared.settings.slack
    client = team_client(shared, token)
    scheduler = await stack.enter_async_context(_edit_scheduler(shared, me))
    # Shared files come from Slack's hosts only, the token with them (bot/fetch.py).
    downloader = await stack.enter_async_context(slack_downloader(token, slack.api_url))
    streams = _native_streams(shared, client, scheduler)
    stack.push_async_callback(streams.close)
    replies = Replies(
        client, shared.service, streams, AssistantThreads(client), shared.conversations
    )
    names = UserNames(client)
    history, catchup = _history_and_catchup(shared, client, names, me)
    stack.push_async_callback(catchup.aclose)
    files = FileReader(downloader, FileLimits(slack.max_image_bytes, slack.max_text_file_bytes))
    events, clicks, commands = _listeners(shared, client, replies, names, history, files)
    return Team(token, client, me, scheduler, events, clicks, commands, replies, catchup)


def _edit_scheduler(shared: Shared, me: BotIdentity) -> EditScheduler:
    """The workspace's chat.update budget; several workers spend its tier together."""
    budget = SharedBudget(shared.budgets, f"slack:{me.team_id}") if shared.budgets else None
    return EditScheduler(SLACK_BUDGET, shared.clock, shared=budget)


def _native_streams(
    shared: Shared, client: AsyncWebClient, scheduler: EditScheduler
) -> NativeStreams:
    slack = shared.settings.slack
    options = StreamOptions(
        append_interval=slack.stream_append_interval,
        appends_per_minute=slack.stream_appends_per_minute,
        rollover_after=slack.stream_rollover_seconds,
        max_chars=slack.stream_max_chars,
    )
    return NativeStreams(client, scheduler, options, shared.clock, enabled=slack.native_streaming)


def _history_and_catchup(
    shared: Shared, client: AsyncWebClient, names: UserNames, me: BotIdentity
) -> tuple[ThreadHistory, CatchUp]:
    """The thread import and the catch-up at start share conversations.replies' budget;
    the catch-up's channel reads (conversations.history) have a budget of their own."""
    slack = shared.settings.slack

    def pacer(method: str) -> MethodPacer:  # Slack limits each method on its own
        scope = f"slack:{me.team_id}:{method}"
        interval = slack.history_import_interval
        return MethodPacer(shared.conversations.pacing, scope, interval, shared.clock)

    replies = pacer("conversations.replies")
    history = ThreadHistory(
        client,
        shared.conversations,
        names,
        me=me,
        limit=slack.history_import_messages,
        pacer=replies,
    )
    within = shared.settings.limits.reask_within_seconds
    catchup = CatchUp(
        client,
        shared.conversations,
        replies,
        me,
        shared.clock,
        within=within,
        channels=pacer("conversations.history"),
    )
    return history, catchup


def _listeners(
    shared: Shared,
    client: AsyncWebClient,
    replies: Replies,
    names: UserNames,
    history: ThreadHistory,
    files: FileReader,
) -> tuple[EventHandler, Clicks, SlashCommands]:
    """What answers the workspace's events, button clicks and slash commands."""
    slack = shared.settings.slack
    lists = slack_lists(slack)
    events = EventHandler(
        conversations=shared.conversations,
        replies=replies,
        history=history,
        names=names,
        files=files,
        lists=lists,
    )
    clicks = Clicks(
        client=client,
        replies=replies,
        names=names,
        lists=lists,
        admin_user_ids=slack.admin_user_ids,
    )
    desk = shared.conversations.settings_desk(
        shared.catalog, platform=PLATFORM, admin_user_ids=slack.admin_user_ids
    )
    commands = SlashCommands(
        conversations=shared.conversations,
        catalog=shared.catalog,
        replies=replies,
        names=names,
        lists=lists,
        desk=desk,
    )
    return events, clicks, commands
