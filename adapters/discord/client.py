"""``DiscordBot``: the discord.py connection, with threadline's parts plugged in.

    bot = DiscordBot(settings, service=service, conversations=conversations, ...)
    async with bot:
        await bot.start(token)

discord.py's advanced-startup shape (examples/advanced_startup.py): the core's
services (``ReplyService``, ``Conversations``) and the catalog come in through
``__init__`` (and, until answers.py, listeners.py and recovery.py take
``Conversations``, the store); ``login`` starts the edit scheduler and counts every REST request in its budget
(``counting``); ``setup_hook`` (run once, after login, before the gateway
connects) adds the two cogs and the persistent buttons, and syncs the slash
commands; ``close`` stops every answer (each gets its final edit), then the
scheduler, then the connection.

Shards: ``AutoShardedBot`` runs ``DISCORD__SHARD_IDS`` of ``DISCORD__SHARD_COUNT``
(unset: every shard Discord recommends), and each IDENTIFY waits for its
max_concurrency bucket, shared with the other shard processes (``identify``).

Intents: guilds (channels, threads), guild messages, direct messages, and
message content — privileged, switched on in the developer portal
(https://discord.com/developers/docs/events/gateway#message-content-intent).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import discord
from discord.ext import commands

from adapters.discord.answers import AnswerRunner
from adapters.discord.catchup import catch_up
from adapters.discord.commands import ThreadlineCommands
from adapters.discord.counting import count_every_request, shared_budget
from adapters.discord.echoes import drop_own_edits
from adapters.discord.endpoints import Endpoints
from adapters.discord.files import discord_downloader
from adapters.discord.identify import IdentifyPacer
from adapters.discord.keep import KeepButton
from adapters.discord.listeners import MessageEvents
from adapters.discord.params import ParamsCommands
from adapters.discord.recovery import DiscordRepairer, answer_unanswered
from adapters.discord.redaction import redact_every_request
from adapters.discord.translate import PLATFORM
from adapters.discord.views import RegenerateButton, StopButton
from bot import wording
from bot.conversations import Conversations
from bot.coordination import Coordination
from bot.domain import StoredTurn
from bot.errors import ConfigError
from bot.fetch import Downloader
from bot.models import ModelCatalog
from bot.redact import redactor_for
from bot.service import ReplyService
from bot.settings import Settings
from bot.streaming import DISCORD_BUDGET, BudgetPlan, EditScheduler

log = logging.getLogger(__name__)


def threadline_intents() -> discord.Intents:
    return discord.Intents(guilds=True, guild_messages=True, dm_messages=True, message_content=True)


def _shards(settings: Settings) -> dict[str, Any]:
    """``AutoShardedBot``'s shard keywords; none: every shard GET /gateway/bot recommends."""
    count, ids = settings.discord.shard_count, settings.discord.shard_ids
    return {} if count is None else {"shard_count": count, "shard_ids": ids}


class DiscordBot(commands.AutoShardedBot):
    """threadline on Discord. ``budget`` and ``options`` (discord.py ``Client``
    keywords, e.g. ``guild_ready_timeout``) exist for tests; ``threadline run``
    leaves them alone. Once connected, the answers still owed (``bot.delivery``:
    cut by a crash, kept by an outage) are shown; then ``unanswered``: questions
    a stop left waiting (``ReplyService.unanswered``), answered."""

    def __init__(
        self,
        settings: Settings,
        *,
        service: ReplyService,
        conversations: Conversations,
        catalog: ModelCatalog,
        budget: BudgetPlan = DISCORD_BUDGET,
        unanswered: Sequence[StoredTurn] = (),
        shared: Coordination | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            # No prefix commands: on_message below keeps commands.Bot from parsing any.
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=threadline_intents(),
            # The default for every message; each send sets it again.
            allowed_mentions=discord.AllowedMentions.none(),
            **_shards(settings),
            **options,
        )
        self._threadline = settings
        self._service = service
        self._conversations = conversations
        self._catalog = catalog
        self._budget = budget
        self._shared = shared  # several workers: the global budget is spent together
        self._unanswered = list(unanswered)
        self._live_since = time.time()  # set again when it connects (setup_hook)
        self._endpoints = Endpoints(settings.discord.api_base, settings.discord.gateway_url)
        self._lifetimes = contextlib.AsyncExitStack()
        self._runner: AnswerRunner | None = None
        self._events: MessageEvents | None = None
        self._scheduler: EditScheduler | None = None
        self._stopped = False
        self._identify = IdentifyPacer(self._shared, self._concurrency)  # IDENTIFY turns too
        drop_own_edits(self._connection)

    @property
    def buttons(self) -> AnswerRunner | None:
        """Where Stop and Regenerate clicks go (``views.ButtonHandler``)."""
        return self._runner

    async def login(self, token: str) -> None:
        self._endpoints.apply()  # before the first REST call
        # The budget exists before the first request, so discord.py's own count too.
        scheduler = EditScheduler(self._budget, shared=shared_budget(self._shared, token))
        self._scheduler = await self._lifetimes.enter_async_context(scheduler)
        count_every_request(self.http, self._scheduler)
        redact_every_request(self.http, redactor_for(self._threadline))
        try:
            await super().login(token)
        except discord.LoginFailure:
            raise ConfigError(wording.discord_token_refused()) from None

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Instead of discord.py's 5 s sleep in this process: the bucket's turn, which
        every process of the bot takes from the same Coordination."""
        assert self.application_id is not None  # login read it
        await self._identify.wait_turn(self.application_id, shard_id or 0)

    async def _concurrency(self) -> int:
        return (await self.fetch_session_start_limits()).max_concurrency

    async def setup_hook(self) -> None:
        self._live_since = time.time()  # what the gateway sends from here is answered live
        settings = self._threadline.discord
        scheduler = self._scheduler
        assert scheduler is not None  # login made it
        runner = AnswerRunner(
            service=self._service,
            conversations=self._conversations,
            settings=settings,
            scheduler=scheduler,
        )
        self._runner = runner
        self._lifetimes.push_async_callback(runner.close)  # before the scheduler exits
        # Attachments come from Discord's file hosts only (bot/fetch.py).
        downloader = await self._lifetimes.enter_async_context(
            discord_downloader(settings.api_base)
        )
        events = MessageEvents(
            self,
            settings=settings,
            service=self._service,
            conversations=self._conversations,
            runner=runner,
            downloader=downloader,
        )
        self._events = events
        await self.add_cog(events)
        await self._add_commands(runner, downloader)
        self.add_dynamic_items(StopButton, RegenerateButton, KeepButton)
        # REST works from here (after login): answers still owed are shown, then the
        # questions a stop left waiting are answered.
        deliveries = self._service.deliveries
        deliveries.attach(PLATFORM, DiscordRepairer(self, scheduler))
        self._lifetimes.push_async_callback(deliveries.detach, PLATFORM)  # before the runner
        questions, self._unanswered = self._unanswered, []
        runner.spawn(self._recover(runner, questions), "discord-recovery")
        await self._sync_commands(settings.dev_guild_id)

    async def _add_commands(self, runner: AnswerRunner, downloader: Downloader) -> None:
        """The slash commands: /ask and /image, and the settings (one desk for both cogs)."""
        settings = self._threadline.discord
        desk = self._conversations.settings_desk(
            self._catalog,
            platform=PLATFORM,
            admin_user_ids=[str(user) for user in settings.admin_user_ids],
        )
        await self.add_cog(
            ThreadlineCommands(
                settings=settings,
                service=self._service,
                catalog=self._catalog,
                runner=runner,
                downloader=downloader,
                desk=desk,
            )
        )
        await self.add_cog(ParamsCommands(settings=settings, service=self._service, desk=desk))

    def take_over(self, questions: Sequence[StoredTurn]) -> None:
        """A dead worker's turns are ours (bot/workers.py): show its answers still owed
        and answer its questions, as a start does (no catch-up: this worker is up)."""
        runner = self._runner
        if runner is None:  # not logged in yet: the start's recovery will find them
            return
        runner.spawn(self._take_over(runner, list(questions)), "discord-take-over")

    async def _take_over(self, runner: AnswerRunner, questions: list[StoredTurn]) -> None:
        await self._service.deliveries.resume(PLATFORM)
        await answer_unanswered(self, runner, self._service, questions)

    async def _recover(self, runner: AnswerRunner, questions: list[StoredTurn]) -> None:
        """Show the answers still owed (a crash cut them, an outage kept them), answer
        the questions a stop left waiting, then catch up on messages sent meanwhile."""
        await self._service.deliveries.resume(PLATFORM)
        await answer_unanswered(self, runner, self._service, questions)
        if self._events is not None:  # then what reached Discord while threadline was down
            await self.wait_until_ready()  # the guilds are cached: a thread knows its parent
            within = self._threadline.limits.reask_within_seconds
            await catch_up(
                self,
                self._conversations,
                self._events.on_message,
                within=within,
                live_since=self._live_since,
            )

    async def _sync_commands(self, dev_guild_id: int | None) -> None:
        """Global commands can take a while to appear everywhere; a guild's are
        there at once, hence the development guild."""
        if dev_guild_id is None:
            synced = await self.tree.sync()
        else:
            guild = discord.Object(id=dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        log.info("slash commands synced: %s", ", ".join(f"/{c.name}" for c in synced))

    async def on_message(self, message: discord.Message, /) -> None:
        """Answering is ``MessageEvents``' job; commands.Bot's own would look for prefix commands."""

    async def drain(self, grace: float) -> None:
        """Stop taking messages; let answers in flight finish within ``grace`` seconds
        (``close`` then stops the rest, each with the stopped notice)."""
        if self._runner is not None:
            await self._runner.drain(grace)

    async def close(self) -> None:
        if not self._stopped:
            self._stopped = True
            await self._lifetimes.aclose()
        await super().close()
        self._endpoints.restore()
