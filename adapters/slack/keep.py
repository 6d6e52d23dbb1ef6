"""Keep buttons for ``/ask n=3 …`` on Slack: a Block Kit message under the candidates.

Once the candidates are shown, one message in the thread offers a button per
candidate (https://docs.slack.dev/reference/block-kit/block-elements/button-element:
``action_id`` unique in the block, ``value`` up to 2,000 characters). A click
arrives as a ``block_actions`` interaction, acknowledged at once; the core keeps
the candidate (bot/candidates.py) and the thread is told.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.failures import translated
from adapters.slack.translate import PLATFORM, ReplyPlace
from bot import wording
from bot.domain import ThreadKey
from bot.errors import ThreadlineError
from bot.service import ReplyService

__all__ = ["KEEP_ACTION", "keep_blocks", "keep_clicked", "offer_keep"]

log = logging.getLogger(__name__)

KEEP_ACTION = re.compile(r"^threadline_keep_[1-9]$")


def keep_blocks(candidates: tuple[int, ...]) -> list[dict[str, Any]]:
    """One actions block: a button per candidate, its value ``<turn id>:<number>``."""
    buttons = [
        {
            "type": "button",
            "action_id": f"threadline_keep_{number}",
            "text": {"type": "plain_text", "text": wording.keep_label(number)},
            "value": f"{turn_id}:{number}",
        }
        for number, turn_id in enumerate(candidates, start=1)
    ]
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": wording.keep_prompt()}},
        {"type": "actions", "block_id": "threadline_keep", "elements": buttons},
    ]


async def offer_keep(
    client: AsyncWebClient, place: ReplyPlace, candidates: tuple[int, ...]
) -> None:
    """Post the Keep buttons in the answer's thread (an answer stands without them)."""
    try:
        with translated(place.channel):
            await client.chat_postMessage(
                channel=place.channel,
                thread_ts=place.thread_ts,
                text=wording.keep_prompt(),
                blocks=keep_blocks(candidates),
            )
    except ThreadlineError as error:
        log.warning("could not offer the Keep buttons: %s", error)


async def keep_clicked(service: ReplyService, client: AsyncWebClient, body: dict[str, Any]) -> None:
    """A Keep click: which candidate, in which conversation; then say so in the thread."""
    action = (body.get("actions") or [{}])[0]
    turn, _, number = str(action.get("value", "")).partition(":")
    channel = str((body.get("channel") or {}).get("id", ""))
    container = body.get("container") or {}
    thread = str(container.get("thread_ts") or (body.get("message") or {}).get("thread_ts") or "")
    team = str((body.get("team") or {}).get("id", ""))
    if not (turn.isdigit() and number.isdigit() and channel and thread):
        return
    key = ThreadKey(PLATFORM, team, channel, thread)
    sentence = await service.keep(key, int(turn), int(number))
    with translated(channel):
        await client.chat_postMessage(channel=channel, thread_ts=thread, text=sentence)
