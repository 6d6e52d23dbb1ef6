"""Slack's access lists (SLACK__*_IDS, SLACK__ALLOW_DMS), decided by ``bot.access``."""

from __future__ import annotations

from typing import Any

import pytest

from bot import wording
from tests.fakes.slack import SlackFake
from tests.fakes.upstream import FakeUpstream
from tests.slack.conftest import ALICE, DM, GENERAL, TEAM, MakeBot, wait_shown
from tests.slack.test_commands import responses, run_command

BOB = "U0BOB00001"
RANDOM = "C0RANDOM01"


async def asked_and_answered(
    fake: SlackFake, upstream: FakeUpstream, refused: dict[str, Any], allowed: dict[str, Any]
) -> None:
    """Send the refused message, then an allowed one; once the allowed one is answered,
    the refused one (delivered first, on the same socket) had its chance."""
    await fake.send_event(refused)
    await fake.send_event(allowed)
    channel, thread = allowed["channel"], allowed.get("thread_ts") or allowed["ts"]
    await wait_shown(fake, channel, None if channel == DM else thread, "You said: let me in")
    assert [m["content"] for m in upstream.requests[-1]["messages"][1:]] == ["let me in"]
    assert len(upstream.requests) == 1


@pytest.mark.parametrize(
    "lists",
    [
        {"blocked_user_ids": [BOB]},
        {"allowed_user_ids": [ALICE]},
        {"blocked_channel_ids": [RANDOM]},
        {"allowed_channel_ids": [GENERAL]},
        {"allowed_user_ids": [ALICE, BOB], "blocked_user_ids": [BOB]},  # a block wins
    ],
    ids=["blocked-user", "allowed-users", "blocked-channel", "allowed-channels", "block-wins"],
)
async def test_a_mention_the_lists_refuse_is_ignored(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream, lists: dict[str, Any]
) -> None:
    await make_bot(**lists)
    payloads = slack_fake.payloads
    place = RANDOM if "channel" in next(iter(lists)) else GENERAL
    user = ALICE if place == RANDOM else BOB
    refused = payloads.app_mention("keep me out", channel=place, user=user)
    await asked_and_answered(slack_fake, upstream, refused, payloads.app_mention("let me in"))


async def test_a_blocked_team_is_refused_everywhere_dms_included(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot(blocked_team_ids=[TEAM])
    await slack_fake.send_event(slack_fake.payloads.message("hello?", channel=DM))
    await run_command(slack_fake, "/model")
    await slack_fake.wait_for(lambda: responses(slack_fake), what="the refusal")
    assert responses(slack_fake) == [("ephemeral", wording.not_allowed())]
    assert upstream.requests == []


async def test_direct_messages_can_be_turned_off(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot(allow_dms=False)
    refused = slack_fake.payloads.message("let me in", channel=DM)
    await asked_and_answered(
        slack_fake, upstream, refused, slack_fake.payloads.app_mention("let me in")
    )


async def test_a_refused_slash_command_says_so_only_to_its_sender(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot(allowed_team_ids=["T0OTHER001"])
    await run_command(slack_fake, "/ask", "what is a monad?")
    await slack_fake.wait_for(lambda: responses(slack_fake), what="the refusal")
    assert responses(slack_fake) == [("ephemeral", wording.not_allowed())]
    assert slack_fake.messages(GENERAL) == []  # the question was not quoted
    assert upstream.requests == []


async def test_a_settings_change_is_refused_when_slack_cannot_say_who_is_an_admin(
    slack_fake: SlackFake, make_bot: MakeBot
) -> None:
    """users.info answers user_not_found for someone the workspace does not know:
    the change is refused rather than made on a guess."""
    await make_bot()
    await run_command(slack_fake, "/model", "gpt-4", user_id="U0NOBODY01")
    await slack_fake.wait_for(lambda: responses(slack_fake), what="the refusal")
    assert responses(slack_fake) == [("ephemeral", wording.settings_need_admin("slack"))]
