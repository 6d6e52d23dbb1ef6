"""What a click on Stop or Regenerate does (the buttons are described in buttons.py).

The same rules as Discord's: the access lists apply to clicks as to messages;
anyone allowed may regenerate an answer; only the person who asked, a workspace
admin or someone on ``SLACK__ADMIN_USER_IDS`` may stop one. A Stop whose answer
is not running any more (it ended, or the process restarted since) just goes away;
one running on another worker is stopped there (``ReplyService.stops``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection

import aiohttp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.buttons import REGENERATE_ACTION, STOP_ACTION, Click, regenerate_target
from adapters.slack.failures import translated
from adapters.slack.names import UserNames
from adapters.slack.replies import Replies
from adapters.slack.translate import PLATFORM, asker, place_of
from bot import wording
from bot.access import AccessLists, may_stop, may_use
from bot.errors import ThreadlineError

__all__ = ["Clicks"]

log = logging.getLogger(__name__)


class Clicks:
    def __init__(
        self,
        *,
        client: AsyncWebClient,
        replies: Replies,
        names: UserNames,
        lists: AccessLists,
        admin_user_ids: Collection[str] = (),
    ) -> None:
        self._client = client
        self._replies = replies
        self._names = names
        self._lists = lists
        self._admins = frozenset(admin_user_ids)

    async def handle(self, click: Click, respond: AsyncRespond) -> None:
        if not may_use(self._lists, asker(click.team_id, click.channel_id, click.user_id)):
            await _tell(respond, wording.not_allowed())
        elif click.action_id == STOP_ACTION:
            await self._stop(click, respond)
        elif click.action_id == REGENERATE_ACTION:
            await self._regenerate(click, respond)

    async def _stop(self, click: Click, respond: AsyncRespond) -> None:
        answers = self._replies.answers
        running = answers.running(click.value)
        # Not running here: it may stream on another worker (HTTP mode behind a load
        # balancer), if its question is stored.
        requester = running.requester_id if running else await self._replies.asker(click.value)
        if requester is None:  # ended, or from before a restart: the button is stale
            await self._remove(click)
            return
        allowed = await may_stop(
            click.user_id,
            requester_id=requester,
            admin_user_ids=self._admins,
            platform_admin=lambda: self._names.is_admin(click.user_id),
        )
        if not allowed:
            await _tell(respond, wording.stop_not_yours(PLATFORM))
            return
        # The answer's task then ends it with the stopped notice and swaps the buttons.
        if not answers.stop(click.value):
            await answers.stop_elsewhere(click.value)
            await self._remove(click)  # gone if the answer had ended meanwhile too

    async def _regenerate(self, click: Click, respond: AsyncRespond) -> None:
        target = regenerate_target(click.value)
        if target is None or (target[0].workspace, target[0].channel) != (
            click.team_id,
            click.channel_id,
        ):
            await _tell(respond, wording.nothing_to_regenerate())
            return
        key, turn_id = target
        await self._remove(click)  # the new answer brings its own buttons
        place = place_of(key, click.user_id)
        request_id = f"regenerate:{click.trigger_id or click.message_ts}"
        result = await self._replies.regenerate(key, turn_id, place, request_id)
        log.info("regenerated answer %s in %s: %s", turn_id, key, result.outcome.value)

    async def _remove(self, click: Click) -> None:
        try:
            with translated(click.channel_id, workspace_wide=True):
                await self._client.chat_delete(channel=click.channel_id, ts=click.message_ts)
        except ThreadlineError as error:
            log.info("could not remove a clicked button: %s", error.user_message)


async def _tell(respond: AsyncRespond, text: str) -> None:
    """Say something only the person who clicked sees (the click's ``response_url``)."""
    try:
        await respond(text=text, response_type="ephemeral", replace_original=False)
    except (aiohttp.ClientError, TimeoutError) as error:
        log.info("could not answer a click: %s", error)
