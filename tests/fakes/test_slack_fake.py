"""Self-tests of the Slack fake, each driving the real slack_sdk / slack_bolt over sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.clock import StillClock
from tests.fakes.slack import RateLimit, SlackFake, SlackLimits
from tests.fakes.slack.fixtures import (  # noqa: F401 - fixtures used by name
    slack_fake_fixture,
    slack_fake_limits_fixture,
)
from tests.fakes.slack.limits import RateLimiter

GENERAL = "C0GENERAL1"
RANDOM = "C0RANDOM01"
DM = "D0ALICE001"
ALICE = "U0ALICE001"


def web_client(fake: SlackFake, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.base_url, **kwargs)


async def api_error(call: Any) -> SlackApiError:
    """Await a Web API call that must fail; return the SDK's error."""
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


class ManualClock:
    """The fake's clock, moved by hand so expiry is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


# ---- Web API basics -------------------------------------------------------------------


async def test_auth_test_and_token_checks(slack_fake: SlackFake) -> None:
    response = await web_client(slack_fake).auth_test()
    assert response["user_id"] == slack_fake.workspace.bot.id
    assert response["bot_id"] == slack_fake.workspace.bot.bot_id
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"

    bad = await api_error(
        AsyncWebClient(token="xoxb-wrong", base_url=slack_fake.base_url).auth_test()
    )
    assert bad.response["error"] == "invalid_auth"
    none = await api_error(AsyncWebClient(base_url=slack_fake.base_url).auth_test())
    assert none.response["error"] == "not_authed"
    app_token = AsyncWebClient(token=slack_fake.app_token, base_url=slack_fake.base_url)
    wrong_kind = await api_error(app_token.chat_postMessage(channel=GENERAL, text="x"))
    assert wrong_kind.response["error"] == "not_allowed_token_type"


async def test_post_update_delete_land_in_state(slack_fake: SlackFake) -> None:
    client = web_client(slack_fake)
    posted = await client.chat_postMessage(channel=GENERAL, text="first draft")
    ts = posted["ts"]
    await client.chat_update(channel=GENERAL, ts=ts, text="second draft")
    await client.chat_update(channel=GENERAL, ts=ts, markdown_text="**final**")
    [message] = slack_fake.messages(GENERAL)
    assert (message.ts, message.body, message.edits) == (ts, "**final**", 2)
    assert message.bot_id == slack_fake.workspace.bot.bot_id

    # A form-encoded body is accepted like the JSON one (Slack takes both).
    form = await client.api_call("chat.postMessage", data={"channel": GENERAL, "text": "form"})
    assert slack_fake.messages(GENERAL)[-1].text == "form"

    await client.chat_delete(channel=GENERAL, ts=ts)
    assert [m.ts for m in slack_fake.messages(GENERAL)] == [form["ts"]]
    assert slack_fake.messages(GENERAL, include_deleted=True)[0].deleted
    gone = await api_error(client.chat_update(channel=GENERAL, ts=ts, text="again"))
    assert gone.response["error"] == "message_not_found"
    missing = await api_error(client.chat_postMessage(channel="C0NOPE0000", text="x"))
    assert missing.response["error"] == "channel_not_found"


async def test_bot_cannot_edit_a_person_s_message(slack_fake: SlackFake) -> None:
    event = slack_fake.payloads.message("a person wrote this", channel=GENERAL)
    slack_fake.workspace.record_user_event(event)
    refused = await api_error(
        web_client(slack_fake).chat_update(channel=GENERAL, ts=event["ts"], text="hijack")
    )
    assert refused.response["error"] == "cant_update_message"


ROOMY_POSTS = SlackLimits.fast().with_method_limit(
    "chat.postMessage", RateLimit(burst=50, interval=0.1)
)


@pytest.mark.parametrize("slack_fake_limits", [ROOMY_POSTS], ids=["roomy-post-budget"])
async def test_text_length_and_block_limits(slack_fake: SlackFake) -> None:
    client = web_client(slack_fake)
    too_long = await api_error(client.chat_postMessage(channel=GENERAL, text="x" * 4_001))
    assert too_long.response["error"] == "msg_too_long"
    await client.chat_postMessage(channel=GENERAL, text="x" * 4_000)
    posted = await client.chat_postMessage(channel=GENERAL, markdown_text="y" * 10_000)
    assert slack_fake.messages(GENERAL)[-1].markdown == "y" * 10_000
    over = await api_error(client.chat_postMessage(channel=GENERAL, markdown_text="y" * 12_001))
    assert over.response["error"] == "msg_too_long"
    update = await api_error(client.chat_update(channel=GENERAL, ts=posted["ts"], text="z" * 4_001))
    assert update.response["error"] == "msg_too_long"
    block = {"type": "section", "text": {"type": "mrkdwn", "text": "b"}}
    blocks = await api_error(
        client.chat_postMessage(channel=GENERAL, text="b", blocks=[block] * 51)
    )
    assert blocks.response["error"] == "invalid_blocks"
    conflict = await api_error(
        client.chat_postMessage(channel=GENERAL, text="a", markdown_text="b")
    )
    assert conflict.response["error"] == "markdown_text_conflict"


# ---- rate limits ---------------------------------------------------------------------


async def test_chat_update_burst_beyond_tier_is_answered_429() -> None:
    limits = SlackLimits.fast().with_method_limit("chat.update", RateLimit(burst=3, interval=60.0))
    async with SlackFake(limits=limits) as fake:
        client = web_client(fake)
        ts = (await client.chat_postMessage(channel=GENERAL, text="0"))["ts"]
        for n in range(3):
            await client.chat_update(channel=GENERAL, ts=ts, text=str(n))
        limited = await api_error(client.chat_update(channel=GENERAL, ts=ts, text="too many"))
        assert limited.response.status_code == 429
        assert limited.response["error"] == "ratelimited"
        assert int(limited.response.headers["Retry-After"]) >= 1
        assert fake.rate_limited["chat.update"] == 1
        assert fake.messages(GENERAL)[0].text == "2"


async def test_rate_limit_retry_handler_rides_out_429() -> None:
    limits = SlackLimits.fast().with_method_limit("chat.update", RateLimit(burst=1, interval=0.5))
    async with SlackFake(limits=limits) as fake:
        client = web_client(
            fake, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)]
        )
        ts = (await client.chat_postMessage(channel=GENERAL, text="0"))["ts"]
        await client.chat_update(channel=GENERAL, ts=ts, text="1")
        await client.chat_update(channel=GENERAL, ts=ts, text="2")  # 429 first, then retried
        assert fake.rate_limited["chat.update"] == 1
        statuses = [r.status for r in fake.log.calls("chat.update")]
        assert statuses == [200, 429, 200]
        assert fake.messages(GENERAL)[0].text == "2"


async def test_post_message_budget_is_per_channel() -> None:
    limits = SlackLimits.fast().with_method_limit(
        "chat.postMessage", RateLimit(burst=2, interval=60.0)
    )
    async with SlackFake(limits=limits) as fake:
        client = web_client(fake)
        await client.chat_postMessage(channel=GENERAL, text="1")
        await client.chat_postMessage(channel=GENERAL, text="2")
        limited = await api_error(client.chat_postMessage(channel=GENERAL, text="3"))
        assert limited.response.status_code == 429
        await client.chat_postMessage(channel=RANDOM, text="other channel, own budget")


async def test_conversations_replies_is_capped_and_rate_limited(slack_fake: SlackFake) -> None:
    parent = slack_fake.payloads.message("question", channel=GENERAL)
    slack_fake.workspace.record_user_event(parent)
    for n in range(19):
        reply = slack_fake.payloads.message(f"reply {n}", channel=GENERAL, thread_ts=parent["ts"])
        slack_fake.workspace.record_user_event(reply)
    client = web_client(slack_fake)
    page = await client.conversations_replies(channel=GENERAL, ts=parent["ts"], limit=100)
    assert len(page["messages"]) == 15
    assert page["messages"][0]["ts"] == parent["ts"]
    assert page["messages"][0]["reply_count"] == 19
    assert page["has_more"] is True
    cursor = page["response_metadata"]["next_cursor"]
    limited = await api_error(
        client.conversations_replies(channel=GENERAL, ts=parent["ts"], cursor=cursor)
    )
    assert limited.response.status_code == 429
    assert limited.response["error"] == "ratelimited"
    assert limited.response.headers["Retry-After"] == "60"


# ---- files ---------------------------------------------------------------------------


async def test_files_upload_v2_into_a_thread(slack_fake: SlackFake) -> None:
    client = web_client(slack_fake)
    parent = await client.chat_postMessage(channel=GENERAL, text="here comes a picture")
    uploaded = await client.files_upload_v2(
        channel=GENERAL,
        thread_ts=parent["ts"],
        content=b"\x89PNG fake bytes",
        filename="chart.png",
        initial_comment="the chart",
    )
    thread = slack_fake.messages(GENERAL, thread_ts=parent["ts"])
    assert [m.files for m in thread] == [(), ("chart.png",)]
    assert thread[1].text == "the chart"

    url = uploaded["file"]["url_private"]
    async with aiohttp.ClientSession() as session:
        async with session.get(
            url, headers={"Authorization": f"Bearer {slack_fake.bot_token}"}
        ) as r:
            assert (r.status, r.content_type, await r.read()) == (
                200,
                "image/png",
                b"\x89PNG fake bytes",
            )
        async with session.get(url) as r:  # no token: Slack's sign-in page, status 200
            assert (r.status, r.content_type) == (200, "text/html")


# ---- native streaming ------------------------------------------------------------------


async def test_chat_stream_builds_one_message(slack_fake: SlackFake) -> None:
    client = web_client(slack_fake)
    parent = await client.chat_postMessage(channel=GENERAL, text="ask")
    streamer = await client.chat_stream(
        channel=GENERAL,
        thread_ts=parent["ts"],
        recipient_team_id=slack_fake.workspace.team_id,
        recipient_user_id=ALICE,
        buffer_size=8,
    )
    await streamer.append(markdown_text="Hello, ")
    await streamer.append(markdown_text="streaming ")
    assert streamer.ts is not None
    [live] = slack_fake.messages(GENERAL, thread_ts=parent["ts"])[1:]
    assert (live.stream_state, live.markdown) == ("streaming", "Hello, streaming ")
    conflict = await api_error(client.chat_update(channel=GENERAL, ts=streamer.ts, text="x"))
    assert conflict.response["error"] == "streaming_state_conflict"

    await streamer.append(markdown_text="world")
    await streamer.stop(markdown_text="!")
    [done] = slack_fake.messages(GENERAL, thread_ts=parent["ts"])[1:]
    assert (done.stream_state, done.markdown) == ("stopped", "Hello, streaming world!")
    late = await api_error(client.chat_appendStream(channel=GENERAL, ts=done.ts, markdown_text="."))
    assert late.response["error"] == "message_not_in_streaming_state"


async def test_channel_stream_needs_recipient_ids(slack_fake: SlackFake) -> None:
    client = web_client(slack_fake)
    refused = await api_error(client.chat_startStream(channel=GENERAL, thread_ts="1.000001"))
    assert refused.response["error"] == "missing_recipient_user_id"
    refused = await api_error(
        client.chat_startStream(channel=GENERAL, thread_ts="1.000001", recipient_user_id=ALICE)
    )
    assert refused.response["error"] == "missing_recipient_team_id"
    started = await client.chat_startStream(channel=DM, thread_ts="1.000001", markdown_text="ok")
    assert slack_fake.messages(DM)[0].stream_state == "streaming"
    assert started["ts"] == slack_fake.messages(DM)[0].ts


async def test_expired_stream_refuses_appends() -> None:
    clock = ManualClock()
    async with SlackFake(limits=SlackLimits.fast(stream_max_age=2.0), clock=clock) as fake:
        client = web_client(fake)
        started = await client.chat_startStream(
            channel=GENERAL,
            thread_ts="1.000001",
            recipient_user_id=ALICE,
            recipient_team_id=fake.workspace.team_id,
            markdown_text="part one",
        )
        clock.now += 1.9
        await client.chat_appendStream(channel=GENERAL, ts=started["ts"], markdown_text=", two")
        clock.now += 0.2  # 2.1 s after the start: appends did not extend it
        expired = await api_error(
            client.chat_appendStream(channel=GENERAL, ts=started["ts"], markdown_text=", three")
        )
        assert expired.response["error"] == "message_not_in_streaming_state"
        [message] = fake.messages(GENERAL)
        assert (message.stream_state, message.markdown) == ("expired", "part one, two")
        # The SDK's documented fallback after expiry: chat.update the streamed message.
        await client.chat_update(channel=GENERAL, ts=started["ts"], markdown_text="all of it")
        assert fake.messages(GENERAL)[0].body == "all of it"


# ---- Socket Mode with Bolt --------------------------------------------------------------


@dataclass
class BoltRecorder:
    """What the Bolt app under test saw."""

    mentions: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    retry_headers: list[str | None] = field(default_factory=list)


def build_bolt_app(fake: SlackFake, seen: BoltRecorder, **kwargs: Any) -> AsyncApp:
    app = AsyncApp(client=web_client(fake), **kwargs)

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], say: Any, request: Any) -> None:
        seen.mentions.append(event)
        seen.retry_headers.append(request.headers.get("x-slack-retry-num", [None])[0])
        await say(text=f"echo: {event['text']}", thread_ts=event["ts"])

    @app.event("assistant_thread_started")
    async def on_thread(event: dict[str, Any], client: AsyncWebClient) -> None:
        thread = event["assistant_thread"]
        await client.assistant_threads_setStatus(
            channel_id=thread["channel_id"], thread_ts=thread["thread_ts"], status="is thinking…"
        )

    @app.command("/ask")
    async def on_ask(ack: Any, respond: Any, command: dict[str, Any]) -> None:
        seen.commands.append(command)
        await ack(text=f"asking: {command['text']}")
        await respond(text=f"answer to {command['text']}")

    @app.action("regenerate")
    async def on_regenerate(ack: Any, body: dict[str, Any]) -> None:
        seen.actions.append(body)
        await ack()

    return app


@pytest_asyncio.fixture
async def socket_app(slack_fake: SlackFake) -> AsyncIterator[tuple[SlackFake, BoltRecorder]]:
    seen = BoltRecorder()
    app = build_bolt_app(slack_fake, seen)
    handler = AsyncSocketModeHandler(app, slack_fake.app_token)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    await slack_fake.wait_for(lambda: slack_fake.socket.connections, what="socket connection")
    yield slack_fake, seen
    await handler.close_async()  # type: ignore[no-untyped-call]


async def test_bolt_socket_mode_gets_mention_and_command(
    socket_app: tuple[SlackFake, BoltRecorder],
) -> None:
    fake, seen = socket_app
    event_id = await fake.send_event(fake.payloads.app_mention("what is 2+2?"))
    ack = await fake.wait_for_ack(event_id)
    assert (ack.mode, ack.attempt) == ("socket", 0)
    mention_ts = seen.mentions[0]["ts"]
    await fake.wait_for(
        lambda: len(fake.messages(GENERAL, thread_ts=mention_ts)) == 2, what="reply"
    )
    reply = fake.messages(GENERAL, thread_ts=mention_ts)[1]
    assert reply.text.startswith("echo: <@U0BOT00001> what is 2+2?")
    assert seen.retry_headers == ["0"]  # first delivery: retry_attempt 0, not a retry

    command_id = await fake.send_command("/ask", "capital of France")
    command_ack = await fake.wait_for_ack(command_id)
    assert command_ack.payload == {"text": "asking: capital of France"}
    assert seen.commands[0]["text"] == "capital of France"
    assert seen.commands[0]["response_url"].startswith(fake.workspace.origin)

    await fake.wait_for(lambda: fake.workspace.responses, what="response_url POST")
    assert fake.workspace.responses[0]["text"] == "answer to capital of France"

    click = fake.payloads.block_actions(action_id="regenerate", message_ts=reply.ts)
    click_ack = await fake.wait_for_ack(await fake.send_interaction(click))
    assert (click_ack.kind, seen.actions[0]["actions"][0]["action_id"]) == (
        "interactive",
        "regenerate",
    )

    started = await fake.send_event(fake.payloads.assistant_thread_started())
    await fake.wait_for(lambda: fake.workspace.assistant_calls, what="setStatus")
    assert fake.workspace.assistant_calls[0]["status"] == "is thinking…"
    assert fake.acks_for(started)


async def test_unacked_envelope_is_redelivered(socket_app: tuple[SlackFake, BoltRecorder]) -> None:
    fake, _ = socket_app
    # No listener for reaction_added: Bolt answers 404 and sends no ack.
    event = fake.payloads.other_event("reaction_added", user=ALICE, reaction="eyes")
    event_id = await fake.send_event(event)
    delivery = await fake.wait_for_delivery(event_id, timeout=10)
    assert not delivery.acked
    assert [(a.number, a.reason) for a in delivery.attempts] == [
        (0, ""),
        (1, "timeout"),
        (2, "timeout"),
        (3, "timeout"),
    ]
    assert len({a.envelope_id for a in delivery.attempts}) == 4


async def test_forced_disconnect_reconnects(socket_app: tuple[SlackFake, BoltRecorder]) -> None:
    fake, seen = socket_app
    await fake.disconnect_socket("refresh_requested")
    await fake.wait_for(
        lambda: fake.socket.connections_opened == 2 and len(fake.socket.connections) == 1,
        what="reconnection",
    )
    event_id = await fake.send_event(fake.payloads.app_mention("still there?"))
    await fake.wait_for_ack(event_id)
    assert seen.mentions[-1]["text"].endswith("still there?")
    assert len(fake.log.calls("apps.connections.open")) == 2


# ---- HTTP mode with Bolt ---------------------------------------------------------------


@pytest_asyncio.fixture
async def http_app(slack_fake: SlackFake) -> AsyncIterator[tuple[SlackFake, BoltRecorder, str]]:
    seen = BoltRecorder()
    app = build_bolt_app(slack_fake, seen, signing_secret=slack_fake.signing_secret)
    runner = web.AppRunner(app.web_app(path="/slack/events"))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield slack_fake, seen, f"http://127.0.0.1:{port}/slack/events"
    await runner.cleanup()


async def test_bolt_http_mode_verifies_signatures(
    http_app: tuple[SlackFake, BoltRecorder, str],
) -> None:
    fake, seen, url = http_app
    good = await fake.send_event(fake.payloads.app_mention("signed"), "http", url=url)
    ack = await fake.wait_for_ack(good)
    assert (ack.mode, ack.attempt) == ("http", 0)
    assert seen.mentions[0]["text"].endswith("signed")

    for how in ("invalid", "stale", "missing"):
        bad = await fake.send_event(
            fake.payloads.app_mention(how), "http", url=url, signature=how, retries=False
        )
        delivery = await fake.wait_for_delivery(bad)
        assert [a.status for a in delivery.attempts] == [401], how
        assert not delivery.acked
    assert len(seen.mentions) == 1

    command_id = await fake.send_command("/ask", "over http", mode="http", url=url)
    # Over HTTP, Bolt answers ack(text=...) as a text/plain body.
    assert (await fake.wait_for_ack(command_id)).payload == "asking: over http"


async def test_http_retries_carry_retry_headers(
    http_app: tuple[SlackFake, BoltRecorder, str],
) -> None:
    fake, _, url = http_app
    event = fake.payloads.other_event("reaction_added", user=ALICE, reaction="eyes")  # Bolt: 404
    delivery = await fake.wait_for_delivery(await fake.send_event(event, "http", url=url))
    assert [(a.number, a.reason, a.status) for a in delivery.attempts] == [
        (0, "", 404),
        (1, "http_error", 404),
        (2, "http_error", 404),
        (3, "http_error", 404),
    ]


async def test_http_timeout_is_retried_with_signed_retry_headers(slack_fake: SlackFake) -> None:
    """A receiver that stalls past the ack timeout gets the retry, headers and all."""
    received: list[tuple[dict[str, str], bytes]] = []
    release = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        slack_fake.notify_changed()
        if len(received) == 1:
            await release.wait()  # no answer within the ack timeout
        return web.Response(text="")

    receiver = web.Application()
    receiver.router.add_post("/events", receive)
    runner = web.AppRunner(receiver)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/events"
    try:
        event_id = await slack_fake.send_event(slack_fake.payloads.message("hi"), "http", url=url)
        delivery = await slack_fake.wait_for_delivery(event_id)
    finally:
        release.set()
        await runner.cleanup()
    assert [(a.number, a.outcome) for a in delivery.attempts] == [(0, "timeout"), (1, "acked")]
    first, retry = received
    assert "X-Slack-Retry-Num" not in first[0]
    assert (retry[0]["X-Slack-Retry-Num"], retry[0]["X-Slack-Retry-Reason"]) == (
        "1",
        "http_timeout",
    )
    verifier = SignatureVerifier(slack_fake.signing_secret)
    assert all(verifier.is_valid_request(body, headers) for headers, body in received)
    assert json.loads(retry[1])["event_id"] == event_id


async def test_control_api_drives_a_separate_process(
    http_app: tuple[SlackFake, BoltRecorder, str],
) -> None:
    fake, seen, url = http_app
    origin = fake.workspace.origin
    async with aiohttp.ClientSession() as session:
        body = {
            "builder": "app_mention",
            "args": {"text": "via control"},
            "mode": "http",
            "url": url,
        }
        async with session.post(f"{origin}/_fake/event", json=body) as r:
            event_id = (await r.json())["event_id"]
        await fake.wait_for_ack(event_id)
        await fake.wait_for(
            lambda: fake.messages(GENERAL, seen.mentions[0]["ts"])[1:], what="reply"
        )
        params = {"channel": GENERAL, "thread_ts": seen.mentions[0]["ts"]}
        async with session.get(f"{origin}/_fake/messages", params=params) as r:
            messages = (await r.json())["messages"]
        async with session.get(f"{origin}/_fake/stats") as r:
            stats = await r.json()
    assert [m["user"] for m in messages] == [ALICE, fake.workspace.bot.id]
    assert stats["requests"]["chat.postMessage"] == 1
    assert stats["deliveries"][event_id]["acked"] is True


# ---- payload builders -----------------------------------------------------------------


async def test_payload_builders_are_realistic(slack_fake: SlackFake) -> None:
    payloads = slack_fake.payloads
    picture = slack_fake.workspace.add_file("cat.png", b"meow", "image/png")
    with_file = payloads.message("look", channel=DM, files=[picture])
    assert (with_file["subtype"], with_file["channel_type"], with_file["upload"]) == (
        "file_share",
        "im",
        True,
    )
    assert with_file["files"][0]["url_private"].startswith(slack_fake.workspace.origin)
    reply = payloads.message("in thread", thread_ts=with_file["ts"], channel=DM)
    assert reply["thread_ts"] == with_file["ts"]
    assert reply["client_msg_id"]
    other_bot = payloads.bot_message("beep")
    assert (other_bot["subtype"], other_bot["bot_id"]) == ("bot_message", "B0OTHER001")
    assert "user" not in other_bot
    own = payloads.bot_message("mine", own=True)
    assert (own.get("subtype"), own["bot_id"]) == (None, slack_fake.workspace.bot.bot_id)

    wrapped = [payloads.event_callback(payloads.message("x")) for _ in range(2)]
    assert wrapped[0]["event_id"] != wrapped[1]["event_id"]
    assert all(isinstance(w["event_time"], int) for w in wrapped)

    slack_fake.workspace.record_user_event(with_file)
    edit = payloads.message_changed(
        channel=DM, ts=with_file["ts"], text="look!", previous_text="look"
    )
    slack_fake.workspace.record_user_event(edit)
    [stored] = slack_fake.messages(DM)
    assert (stored.text, stored.edits, stored.files) == ("look!", 1, ("cat.png",))
    slack_fake.workspace.record_user_event(payloads.message_deleted(channel=DM, ts=with_file["ts"]))
    assert slack_fake.messages(DM) == []

    click = payloads.block_actions(
        action_id="regenerate", value="again", message_ts=with_file["ts"]
    )
    assert click["actions"][0]["action_id"] == "regenerate"
    assert click["container"]["message_ts"] == with_file["ts"]
    command = payloads.slash_command("/ask", "hi")
    assert all(isinstance(v, str) for v in command.values())


def test_tiers_count_per_method_per_workspace() -> None:
    """Slack evaluates tiers "per API method per app per workspace": chat.update's
    Tier 3 (50 a minute) is spent by every channel of a workspace together, apart
    from other methods and other workspaces; chat.postMessage counts per channel."""
    clock = StillClock()
    limiter = RateLimiter(SlackLimits(), clock=clock)
    updates = [limiter.acquire("chat.update", f"C{n}", "T1") for n in range(51)]
    assert updates[:50] == [None] * 50
    assert updates[50] is not None  # the 51st of the minute, whatever its channel
    assert limiter.acquire("chat.update", "C0", "T2") is None  # another workspace
    assert limiter.acquire("chat.delete", "C0", "T1") is None  # another method
    assert limiter.acquire("chat.postMessage", "C7", "T1") is None  # per channel
