"""Slash commands: acknowledged at once, answered in the channel or a thread."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

from bot import wording
from bot.allowance import UsageReport
from bot.domain import ThreadKey
from bot.models import ModelCatalog
from bot.ports import ConversationStore
from bot.settings import UpstreamSettings
from tests.fakes.slack import SlackFake
from tests.fakes.slack.events import encode_http_body, sign
from tests.fakes.upstream import Answer, FakeUpstream
from tests.slack.conftest import (
    ALICE,
    DM,
    GENERAL,
    TEAM,
    MakeBot,
    bot_messages,
    events_url,
    wait_shown,
)


def responses(fake: SlackFake) -> list[tuple[str, str]]:
    """(response_type, text) of everything posted to response_urls."""
    return [(r.get("response_type", ""), r["text"]) for r in fake.workspace.responses]


async def run_command(
    fake: SlackFake,
    command: str,
    text: str = "",
    *,
    channel_id: str = GENERAL,
    user_id: str = ALICE,
) -> None:
    """Send a slash command; check it was acknowledged (with an empty body) in time."""
    sent = await fake.send_command(command, text, channel_id=channel_id, user_id=user_id)
    ack = await fake.wait_for_ack(sent)
    assert ack.payload is None  # acknowledged first; the answer comes separately
    [attempt] = fake.deliveries[sent].attempts
    assert attempt.outcome == "acked"


async def test_ask_answers_in_the_thread_of_its_question(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot()
    await run_command(slack_fake, "/ask", "what is a monad?")
    await slack_fake.wait_for(lambda: bot_messages(slack_fake, GENERAL), what="the question")
    question = bot_messages(slack_fake, GENERAL)[0]
    assert question.text == f"<@{ALICE}> asked: what is a monad?"
    assert question.thread_ts is None
    await wait_shown(
        slack_fake,
        GENERAL,
        question.ts,
        question.text + "You said: what is a monad?",
    )
    # The conversation goes on in that thread without a mention.
    await slack_fake.send_event(slack_fake.payloads.message("go on", thread_ts=question.ts))
    await slack_fake.wait_for(lambda: len(upstream.requests) == 2, what="a second answer")
    roles = [m["role"] for m in upstream.requests[-1]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


async def test_ask_takes_a_model_and_refuses_unknown_ones(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    bot = await make_bot()
    await run_command(slack_fake, "/ask", "--model gpt-4 hi there")
    await slack_fake.wait_for(lambda: upstream.requests, what="an upstream request")
    assert upstream.requests[0]["model"] == "gpt-4"
    assert upstream.requests[0]["messages"][-1]["content"] == "hi there"

    await run_command(slack_fake, "/ask", "--model gpt-99 hi")
    await slack_fake.wait_for(lambda: slack_fake.workspace.responses, what="the refusal")
    [(kind, text)] = responses(slack_fake)
    assert kind == "ephemeral"
    assert text.startswith("threadline does not know the model `gpt-99`")
    await run_command(slack_fake, "/ask", "")
    await slack_fake.wait_for(lambda: len(slack_fake.workspace.responses) == 2)
    assert responses(slack_fake)[1][1] == wording.slack_empty_prompt("/ask")
    await bot.idle()
    assert len(upstream.requests) == 1


async def test_image_is_answered_by_the_image_model(
    slack_fake: SlackFake,
    make_bot: MakeBot,
    upstream: FakeUpstream,
    upstream_settings: UpstreamSettings,
) -> None:
    bot = await make_bot()
    await run_command(slack_fake, "/image", "a lighthouse at dusk")
    await slack_fake.wait_for(lambda: upstream.requests, what="an upstream request")
    await bot.idle()
    assert upstream.requests[0]["model"] == upstream_settings.image_model
    [question] = [m for m in bot_messages(slack_fake, GENERAL) if m.thread_ts is None]
    assert "(model gpt-4o-image)" in question.text
    assert len(bot_messages(slack_fake, GENERAL, question.ts)) == 2


async def test_model_shows_sets_and_refuses(
    slack_fake: SlackFake,
    make_bot: MakeBot,
    upstream: FakeUpstream,
    store: ConversationStore,
    upstream_settings: UpstreamSettings,
) -> None:
    await make_bot()
    slack_fake.workspace.users[ALICE].is_admin = True
    known = ModelCatalog(upstream_settings).names()
    await run_command(slack_fake, "/model")
    await run_command(slack_fake, "/model", "gpt-99")
    await run_command(slack_fake, "/model", "gpt-4")
    await slack_fake.wait_for(lambda: len(slack_fake.workspace.responses) == 3)
    assert sorted(responses(slack_fake)) == sorted(
        [
            (
                "ephemeral",
                wording.model_shown("gpt-4o-mini", "channel", is_default=True, known=known),
            ),
            ("ephemeral", wording.unknown_model("gpt-99", known)),
            ("in_channel", wording.model_set(f"<@{ALICE}>", "gpt-4", "channel")),
        ]
    )
    channel = await store.settings(ThreadKey("slack", TEAM, GENERAL, ""))
    assert channel.model == "gpt-4"

    mention = slack_fake.payloads.app_mention("which model?")
    await slack_fake.send_event(mention)
    await wait_shown(slack_fake, GENERAL, mention["ts"], "You said: which model?")
    assert upstream.requests[-1]["model"] == "gpt-4"


async def test_system_sets_the_channel_prompt(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot()
    slack_fake.workspace.users[ALICE].is_owner = True
    await run_command(slack_fake, "/system", "Answer like a pirate.")
    await slack_fake.wait_for(lambda: slack_fake.workspace.responses)
    assert responses(slack_fake) == [("in_channel", wording.system_set(f"<@{ALICE}>", "channel"))]
    await run_command(slack_fake, "/system")
    await slack_fake.wait_for(lambda: len(slack_fake.workspace.responses) == 2)
    assert responses(slack_fake)[1][1] == wording.system_shown("Answer like a pirate.", "channel")

    mention = slack_fake.payloads.app_mention("hello")
    await slack_fake.send_event(mention)
    await wait_shown(slack_fake, GENERAL, mention["ts"], "You said: hello")
    assert upstream.requests[-1]["messages"][0]["content"] == "Answer like a pirate."


async def test_reset_starts_a_direct_message_afresh(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    await make_bot()
    await slack_fake.send_event(slack_fake.payloads.message("remember 42", channel=DM))
    await wait_shown(slack_fake, DM, None, "You said: remember 42")
    await run_command(slack_fake, "/reset", channel_id=DM)
    await slack_fake.wait_for(lambda: slack_fake.workspace.responses)
    assert responses(slack_fake) == [("in_channel", wording.reset_done("conversation"))]

    await slack_fake.send_event(slack_fake.payloads.message("what number?", channel=DM))
    await slack_fake.wait_for(lambda: len(upstream.requests) == 2)
    assert [m["content"] for m in upstream.requests[-1]["messages"][1:]] == ["what number?"]

    await run_command(slack_fake, "/reset")  # in a channel: every thread is its own
    await slack_fake.wait_for(lambda: len(slack_fake.workspace.responses) == 2)
    assert responses(slack_fake)[1] == ("ephemeral", wording.reset_in_channel())


@pytest.mark.parametrize("who", ["alice", "bob"])
async def test_usage_counts_today_s_tokens(
    slack_fake: SlackFake,
    make_bot: MakeBot,
    upstream: FakeUpstream,
    store: ConversationStore,
    who: str,
) -> None:
    bot = await make_bot()
    upstream.answer = Answer(usage_chunk=True)
    mention = slack_fake.payloads.app_mention("count me")
    await slack_fake.send_event(mention)
    await wait_shown(slack_fake, GENERAL, mention["ts"], "You said: count me")
    await bot.idle()
    used = await store.usage_since(0, platform="slack")
    assert used.total_tokens > 0

    user = ALICE if who == "alice" else "U0BOB00001"
    await run_command(slack_fake, "/usage", user_id=user)
    await slack_fake.wait_for(lambda: slack_fake.workspace.responses)
    mine = used.total_tokens if who == "alice" else 0
    total = used.total_tokens
    report = UsageReport(
        mine, channel=total, workspace=total, user_quota=0, workspace_quota=0, renews_in=0.0
    )
    assert responses(slack_fake) == [("ephemeral", wording.usage_report(report, "workspace"))]


def quotes(fake: SlackFake) -> list[Any]:
    """The bot's messages at the top of the channel: the questions of /ask."""
    return [m for m in bot_messages(fake, GENERAL) if m.thread_ts is None]


async def post_signed_command(fake: SlackFake, url: str, payload: dict[str, str]) -> int:
    """POST a slash command as Slack signs it; the HTTP status of the acknowledgement."""
    body, content_type = encode_http_body("slash_commands", payload)
    headers = {"Content-Type": content_type, **sign(body, fake.signing_secret)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as r,
    ):
        return r.status


async def test_a_command_without_a_response_url_is_answered_through_the_web_api(
    slack_fake: SlackFake, make_bot: MakeBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await make_bot(http=True, admin_user_ids=[ALICE])
    url = events_url(bot)
    for name, text in (("/usage", ""), ("/model", "gpt-4"), ("/model", "no-such-model")):
        payload = slack_fake.payloads.slash_command(name, text)
        del payload["response_url"]
        assert await post_signed_command(slack_fake, url, payload) == 200
    await bot.idle()
    private = [e["text"] for e in slack_fake.workspace.ephemerals if e["user"] == ALICE]
    assert len(private) == 2
    assert "Tokens used today" in private[0]
    assert "no-such-model" in private[1]
    [public] = bot_messages(slack_fake, GENERAL)
    assert public.text == wording.model_set(f"<@{ALICE}>", "gpt-4", "channel")
    assert slack_fake.workspace.responses == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info] == []


async def test_a_command_replayed_after_a_restart_is_not_asked_twice(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream, store: ConversationStore
) -> None:
    first = await make_bot(http=True)
    payload = slack_fake.payloads.slash_command("/ask", "what is a monad?")
    assert await post_signed_command(slack_fake, events_url(first), payload) == 200
    await slack_fake.wait_for(lambda: quotes(slack_fake), what="the question")
    [question] = quotes(slack_fake)
    await wait_shown(slack_fake, GENERAL, question.ts, question.text + "You said: what is a monad?")
    await first.idle()
    await first.stop()

    restarted = await make_bot(http=True)  # the same store; its memory of deliveries is new
    assert await post_signed_command(slack_fake, events_url(restarted), payload) == 200
    await restarted.idle()
    assert len(quotes(slack_fake)) == 1  # one "asked:" quote
    assert upstream.stats.requests == 1


async def test_a_command_whose_response_url_fails_is_answered_through_the_web_api(
    slack_fake: SlackFake, make_bot: MakeBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await make_bot(http=True)
    payload = slack_fake.payloads.slash_command("/usage")
    payload["response_url"] = f"{slack_fake.workspace.origin}/_fake/expired-response-url"
    assert await post_signed_command(slack_fake, events_url(bot), payload) == 200
    await bot.idle()
    [private] = [e["text"] for e in slack_fake.workspace.ephemerals if e["user"] == ALICE]
    assert "Tokens used today" in private
    assert [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info] == []
