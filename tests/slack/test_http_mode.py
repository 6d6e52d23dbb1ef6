"""HTTP mode: Bolt verifies Slack's signatures; retries carry X-Slack-Retry-Num."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import SecretStr

from adapters.slack import SlackBot
from adapters.slack.gate import MAX_BODY_BYTES, REPORT_EVERY, Refusals
from bot.conversations import Conversations
from bot.domain import ThreadKey
from bot.errors import ConfigError
from bot.models import ModelCatalog
from bot.ports import ConversationStore
from bot.service import ReplyService
from bot.settings import Settings, SlackSettings, UpstreamSettings
from storage import MemoryStore
from tests.fakes.clock import FakeClock
from tests.fakes.slack import SlackFake
from tests.fakes.slack.events import encode_http_body, sign
from tests.fakes.upstream import FakeUpstream
from tests.slack.conftest import GENERAL, TEAM, MakeBot, bot_messages, events_url, wait_shown


async def test_signed_events_are_answered_and_bad_signatures_refused(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream, store: ConversationStore
) -> None:
    bot = await make_bot(http=True)
    url = events_url(bot)
    mention = slack_fake.payloads.app_mention("over http")
    ack = await slack_fake.wait_for_ack(await slack_fake.send_event(mention, "http", url=url))
    assert (ack.mode, ack.attempt) == ("http", 0)
    await wait_shown(slack_fake, GENERAL, mention["ts"], "You said: over http")

    forgeries = []
    for how in ("invalid", "stale", "missing"):
        forged = slack_fake.payloads.app_mention(f"forged ({how})")
        sent = await slack_fake.send_event(forged, "http", url=url, signature=how, retries=False)
        delivery = await slack_fake.wait_for_delivery(sent)
        assert [a.status for a in delivery.attempts] == [401], how
        forgeries.append(forged)
    await bot.idle()
    assert upstream.stats.requests == 1
    assert await store.has_conversation(ThreadKey("slack", TEAM, GENERAL, mention["ts"]))
    for forged in forgeries:  # refused before any listener ran: nothing was stored
        assert not await store.has_conversation(ThreadKey("slack", TEAM, GENERAL, forged["ts"]))
        assert await store.find_by_message("slack", f"{GENERAL}:{forged['ts']}") is None


async def test_a_retried_http_delivery_gets_one_answer(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    bot = await make_bot(http=True)
    mention = slack_fake.payloads.app_mention("say it once")
    body, content_type = encode_http_body("events_api", slack_fake.payloads.event_callback(mention))
    async with aiohttp.ClientSession() as session:
        for retry in ({}, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}):
            headers = {"Content-Type": content_type, **sign(body, slack_fake.signing_secret)}
            async with session.post(events_url(bot), data=body, headers=headers | retry) as r:
                assert r.status == 200
    await wait_shown(slack_fake, GENERAL, mention["ts"], "You said: say it once")
    await bot.idle()
    assert upstream.stats.requests == 1
    assert len(bot_messages(slack_fake, GENERAL, mention["ts"])) == 1


async def test_a_slash_command_over_http_is_acknowledged(
    slack_fake: SlackFake, make_bot: MakeBot
) -> None:
    bot = await make_bot(http=True)
    sent = await slack_fake.send_command("/usage", mode="http", url=events_url(bot))
    ack = await slack_fake.wait_for_ack(sent)
    assert ack.mode == "http"
    await slack_fake.wait_for(lambda: slack_fake.workspace.responses, what="usage answer")
    assert "Tokens used today" in slack_fake.workspace.responses[0]["text"]


async def test_starting_without_a_way_to_receive_events_is_a_config_error(
    service: ReplyService, upstream_settings: UpstreamSettings
) -> None:
    settings = Settings(
        _env_file=None,
        upstream=upstream_settings,
        slack=SlackSettings(bot_token=SecretStr("xoxb-1")),
    )
    bot = SlackBot(
        settings,
        service=service,
        conversations=Conversations(MemoryStore()),
        catalog=ModelCatalog(upstream_settings),
    )
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN") as raised:
        await bot.start()
    assert "SLACK_SIGNING_SECRET" in raised.value.user_message
    await bot.stop()


async def test_a_refused_bot_token_stops_start_up(
    slack_fake: SlackFake, service: ReplyService, upstream_settings: UpstreamSettings
) -> None:
    slack = SlackSettings(
        bot_token=SecretStr("xoxb-not-the-right-one"),
        app_token=SecretStr(slack_fake.app_token),
        api_url=slack_fake.base_url,
    )
    settings = Settings(_env_file=None, upstream=upstream_settings, slack=slack)
    bot = SlackBot(
        settings,
        service=service,
        conversations=Conversations(MemoryStore()),
        catalog=ModelCatalog(upstream_settings),
    )
    with pytest.raises(ConfigError, match="invalid_auth"):
        await bot.start()
    assert slack_fake.socket.connections_opened == 0


@pytest.mark.parametrize("timestamp", ["soon", "1e9", "-1", "١٧٠٠٠٠٠٠٠٠", ""])
async def test_a_timestamp_that_is_not_a_number_is_refused_with_401(
    slack_fake: SlackFake, make_bot: MakeBot, caplog: pytest.LogCaptureFixture, timestamp: str
) -> None:
    bot = await make_bot(http=True)
    body, content_type = encode_http_body(
        "events_api", slack_fake.payloads.event_callback(slack_fake.payloads.app_mention("hi"))
    )
    headers = sign(body, slack_fake.signing_secret) | {"X-Slack-Request-Timestamp": timestamp}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            events_url(bot), data=body, headers=headers | {"Content-Type": content_type}
        ) as response,
    ):
        assert response.status == 401
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_body_over_the_cap_is_refused_before_it_is_read(
    slack_fake: SlackFake, make_bot: MakeBot
) -> None:
    bot = await make_bot(http=True)
    body = b'{"type": "event_callback", "text": "' + b"x" * MAX_BODY_BYTES + b'"}'

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: capped while read
        for start in range(0, len(body), 65_536):
            yield body[start : start + 65_536]

    async with aiohttp.ClientSession() as session:
        for data in (io.BytesIO(body), chunked()):
            headers = sign(body, slack_fake.signing_secret) | {"Content-Type": "application/json"}
            async with session.post(events_url(bot), data=data, headers=headers) as response:
                assert response.status == 413


async def test_refused_requests_are_logged_once_a_minute_without_their_content(
    slack_fake: SlackFake, make_bot: MakeBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = await make_bot(http=True)
    async with aiohttp.ClientSession() as session:
        for how in ("invalid", "stale", "missing") * 5:
            body, _ = encode_http_body(
                "events_api",
                slack_fake.payloads.event_callback(slack_fake.payloads.app_mention("secret plan")),
            )
            headers = sign(body, slack_fake.signing_secret, how)
            async with session.post(events_url(bot), data=body, headers=headers) as response:
                assert response.status == 401
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(("slack", "adapters"))]
    assert len([line for line in lines if "refused" in line]) == 1
    assert not any("secret plan" in line for line in lines)


async def test_refusals_between_two_reports_are_summed_in_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="adapters.slack.gate")
    clock = FakeClock()
    refusals = Refusals(clock)
    for reason in ("with a wrong signature", "with a stale timestamp", "with a wrong signature"):
        refusals.refused(reason)
        await clock.sleep(REPORT_EVERY / 2)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2  # the first at once; the third a minute after it, with the second
    assert lines[1].startswith("refused 2 unauthenticated Slack request(s)")
    assert "1 with a stale timestamp, 1 with a wrong signature" in lines[1]
