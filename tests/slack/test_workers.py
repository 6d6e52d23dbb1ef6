"""Several HTTP-mode workers behind one load balancer answer one Slack app correctly.

Each worker is a SlackBot of its own, with its own connection to one SQLite file
and its own ReplyService, as two ``threadline run`` processes would have; what they
share is the store's file and the coordination (``coordinations``: each test runs
with a Redis client per worker on a real redis-server, as with ``REDIS_URL``, and
with one in-process object standing in for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient
from yarl import URL

from adapters.slack import SlackBot
from bot import wording
from bot.conversations import Conversations
from bot.coordination import Coordination, InProcessCoordination
from bot.domain import Delivery, Role, ThreadKey, Turn, TurnStatus
from bot.errors import ConfigError
from bot.models import ModelCatalog
from bot.settings import Settings, SlackSettings, UpstreamSettings
from bot.upstream import UpstreamClient
from storage import SqliteStore
from storage.redis import RedisCoordination
from tests.discord.harness import eventually
from tests.fakes.slack import SlackFake
from tests.fakes.slack.events import EnvelopeKind, encode_http_body, sign
from tests.fakes.slack.limits import RateLimit, SlackLimits
from tests.fakes.slack.oauth import CLIENT_ID, CLIENT_SECRET
from tests.fakes.upstream import FakeUpstream
from tests.services import reply_service
from tests.slack.conftest import (
    ALICE,
    BOT,
    GENERAL,
    TEAM,
    MakeBot,
    bot_messages,
    events_url,
    holds_button,
    shown,
    slack_settings,
    wait_shown,
)

Workers = Callable[..., contextlib.AbstractAsyncContextManager[list[SlackBot]]]


@pytest.fixture
def slack_fake_limits() -> SlackLimits:
    """Slack's tiers, but conversations.replies (read once per recent thread at each
    start) twice a second, not once a minute: a start need not wait out the real one."""
    return SlackLimits.fast().with_method_limit(
        "conversations.replies", RateLimit(burst=1, interval=0.5)
    )


@pytest.fixture(params=["in-process", "redis"])
async def coordinations(
    request: pytest.FixtureRequest,
) -> AsyncIterator[Callable[[], Awaitable[Coordination]]]:
    """One Coordination per worker, all agreeing: a Redis client each on the session's
    server (REDIS_URL), or in one process one shared object standing in for it."""
    if request.param == "in-process":
        shared = InProcessCoordination()

        async def same() -> Coordination:
            return shared

        yield same
        return
    url: str = request.getfixturevalue("redis_url")
    prefix = f"test-{uuid.uuid4().hex}:"  # keys of this test's own on the server
    async with contextlib.AsyncExitStack() as stack:

        async def connect() -> Coordination:
            client = await RedisCoordination.connect(url, prefix=prefix)
            return await stack.enter_async_context(client)

        yield connect


@pytest.fixture
def workers(
    slack_fake: SlackFake,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    coordinations: Callable[[], Awaitable[Coordination]],
    tmp_path: Path,
) -> Workers:
    @contextlib.asynccontextmanager
    async def start(
        count: int, *, recover: bool = False, **slack: Any
    ) -> AsyncIterator[list[SlackBot]]:
        """``count`` workers; ``slack``: SLACK__* settings besides the fake's; ``recover``:
        each starts as ``threadline run`` does, with the questions it finds unanswered."""
        async with contextlib.AsyncExitStack() as stack:
            bots = []
            for _ in range(count):
                store = await stack.enter_async_context(
                    await SqliteStore.open(tmp_path / "threadline.db")
                )
                settings = Settings(
                    _env_file=None,
                    upstream=upstream_settings,
                    slack=slack_settings(slack_fake, http=True, **slack),
                )
                service = reply_service(store, client, upstream_settings)
                bot = SlackBot(
                    settings,
                    service=service,
                    unanswered=await service.unanswered() if recover else (),
                    conversations=Conversations(store),
                    catalog=ModelCatalog(upstream_settings),
                    coordination=await coordinations(),
                    installs=store,
                )
                await bot.start()
                stack.push_async_callback(bot.stop)
                bots.append(bot)
            yield bots

    return start


async def post(
    fake: SlackFake, url: str, kind: EnvelopeKind, payload: dict[str, Any], retry: int = 0
) -> None:
    """POST one signed delivery as Slack does; ``retry`` ≥ 1 adds X-Slack-Retry-Num."""
    body, content_type = encode_http_body(kind, payload)
    headers = {"Content-Type": content_type, **sign(body, fake.signing_secret)}
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as r,
    ):
        assert r.status == 200


async def test_a_retry_on_the_other_worker_is_dropped_and_the_thread_follows(
    slack_fake: SlackFake, workers: Workers, upstream: FakeUpstream
) -> None:
    async with workers(2) as (one, two):
        mention = slack_fake.payloads.app_mention("say it once")
        delivery = slack_fake.payloads.event_callback(mention)
        # Slack retries what was not acknowledged in time: the first is still at work.
        await asyncio.gather(
            post(slack_fake, events_url(one), "events_api", delivery),
            post(slack_fake, events_url(two), "events_api", delivery, retry=1),
        )
        await wait_shown(slack_fake, GENERAL, mention["ts"], "You said: say it once")
        await one.idle()
        await two.idle()
        assert len(upstream.requests) == 1
        assert len(bot_messages(slack_fake, GENERAL, mention["ts"])) == 1

        follow_up = slack_fake.payloads.message("and again", thread_ts=mention["ts"])
        await post(
            slack_fake, events_url(two), "events_api", slack_fake.payloads.event_callback(follow_up)
        )
        await slack_fake.wait_for(lambda: len(upstream.requests) == 2, what="the second answer")
        await two.idle()
        contents = [m["content"] for m in upstream.requests[-1]["messages"][1:]]
        assert contents == ["say it once", "You said: say it once", "and again"]


async def test_a_command_sent_again_to_the_other_worker_is_asked_once(
    slack_fake: SlackFake, workers: Workers, upstream: FakeUpstream
) -> None:
    """A repeated /ask quotes its question before the store could tell: only the
    shared sighting of its trigger_id keeps the second worker from asking again."""
    async with workers(2) as (one, two):
        command = slack_fake.payloads.slash_command("/ask", "what is a monad?")
        await asyncio.gather(
            post(slack_fake, events_url(one), "slash_commands", command),
            post(slack_fake, events_url(two), "slash_commands", command),
        )
        await slack_fake.wait_for(lambda: upstream.requests, what="an upstream request")
        await one.idle()
        await two.idle()
        assert len(upstream.requests) == 1
        questions = [m for m in bot_messages(slack_fake, GENERAL) if m.thread_ts is None]
        assert len(questions) == 1


SECOND_TEAM = "T0SECOND01"
SECOND_CHANNEL = "C0SECOND01"


async def test_a_workspace_installs_by_oauth_and_is_answered_with_its_own_token(
    slack_fake: SlackFake, workers: Workers, upstream: FakeUpstream, tmp_path: Path
) -> None:
    """One deployment, two workspaces: the install starts on one worker and ends on the
    other (the signed state holds on both); events from the new workspace are answered
    by its own bot, with the token its install got; a replayed callback installs nothing."""
    oauth = {"client_id": CLIENT_ID, "client_secret": SecretStr(CLIENT_SECRET)}
    async with workers(2, **oauth) as (one, two), aiohttp.ClientSession() as browser:
        async with browser.get(route(one, "/slack/install"), allow_redirects=False) as r:
            assert r.status == 302
            to_slack = URL(r.headers["Location"])
            # Secure and HttpOnly: a browser sends it back over the balancer's HTTPS.
            cookie = SimpleCookie(r.headers["Set-Cookie"])
        assert (to_slack.host, to_slack.path) == ("slack.com", "/oauth/v2/authorize")
        assert to_slack.query["client_id"] == CLIENT_ID
        assert set(to_slack.query["scope"].split(",")) == set(SlackSettings().scopes)
        state = to_slack.query["state"]
        assert cookie["slack-app-oauth-state"].value == state  # Bolt's state cookie
        sent_back = {"Cookie": f"slack-app-oauth-state={state}"}

        code = slack_fake.oauth.grant(SECOND_TEAM)
        callback = route(two, "/slack/oauth_redirect") + f"?code={code}&state={state}"
        async with browser.get(callback, headers=sent_back, allow_redirects=False) as r:
            assert r.status == 200, await r.text()
        token = slack_fake.oauth.tokens[SECOND_TEAM]
        store = await SqliteStore.open(tmp_path / "threadline.db")
        async with store:
            saved = await store.find_installation(None, SECOND_TEAM)
        assert saved is not None
        assert saved["bot_token"] == token
        second_bot = slack_fake.workspace.bot_for(token)

        slack_fake.workspace.add_channel(SECOND_CHANNEL, "second-general")
        mention = in_team(
            slack_fake.payloads.app_mention("hello from two", channel=SECOND_CHANNEL),
            SECOND_TEAM,
            second_bot.id,
        )
        delivery = slack_fake.payloads.event_callback(mention, token=token)
        await post(slack_fake, events_url(one), "events_api", delivery)
        await slack_fake.wait_for(
            lambda: any(
                "You said: hello from two" in m.body
                for m in slack_fake.messages(SECOND_CHANNEL, mention["ts"])
            ),
            what="the second workspace's answer",
        )
        home = slack_fake.payloads.app_mention("hello from home")
        await post(
            slack_fake, events_url(two), "events_api", slack_fake.payloads.event_callback(home)
        )
        await wait_shown(slack_fake, GENERAL, home["ts"], "You said: hello from home")
        await one.idle()
        await two.idle()
        answers = slack_fake.messages(SECOND_CHANNEL, mention["ts"])
        assert answers
        assert {m.user for m in answers} == {second_bot.id}  # its own token's bot
        assert {m.user for m in bot_messages(slack_fake, GENERAL, home["ts"])} == {BOT}

        replay = route(one, "/slack/oauth_redirect")
        again = slack_fake.oauth.grant("T0THIRD001")
        async with browser.get(f"{replay}?code={again}&state={state}", headers=sent_back) as r:
            assert r.status != 200
        store = await SqliteStore.open(tmp_path / "threadline.db")
        async with store:
            assert await store.find_installation(None, "T0THIRD001") is None


def in_team(event: dict[str, Any], team: str, bot_user: str) -> dict[str, Any]:
    """The fake's event as the other workspace sends it: its team, its bot mentioned."""
    moved = json.loads(json.dumps(event).replace(BOT, bot_user))
    return {**moved, "team": team}


def route(bot: SlackBot, path: str) -> str:
    assert bot.http_address is not None
    host, port = bot.http_address
    return f"http://{host}:{port}{path}"


async def test_without_a_bot_token_every_workspace_comes_by_install_and_its_lists_apply(
    slack_fake: SlackFake, workers: Workers, upstream: FakeUpstream, tmp_path: Path
) -> None:
    """Distributed only (no SLACK_BOT_TOKEN): two workspaces install the app; the access
    lists are per workspace, so the blocked one is not answered and the other is; an
    uninstall forgets only that workspace's install."""
    third = "T0THIRD001"
    settings = {
        "bot_token": None,
        "client_id": CLIENT_ID,
        "client_secret": SecretStr(CLIENT_SECRET),
        "blocked_team_ids": [third],
    }
    async with workers(1, **settings) as (worker,), aiohttp.ClientSession() as browser:
        tokens = [await install(slack_fake, browser, worker, team) for team in (SECOND_TEAM, third)]
        slack_fake.workspace.add_channel(SECOND_CHANNEL, "second-general")
        mentions = []
        for team, token in zip((SECOND_TEAM, third), tokens, strict=True):
            bot = slack_fake.workspace.bot_for(token)
            mention = in_team(
                slack_fake.payloads.app_mention(f"hello from {team}", channel=SECOND_CHANNEL),
                team,
                bot.id,
            )
            delivery = slack_fake.payloads.event_callback(mention, token=token)
            await post(slack_fake, events_url(worker), "events_api", delivery)
            mentions.append(mention)
        await slack_fake.wait_for(lambda: upstream.requests, what="an upstream request")
        await worker.idle()
        assert len(upstream.requests) == 1
        answered, blocked = (slack_fake.messages(SECOND_CHANNEL, m["ts"]) for m in mentions)
        assert any(f"You said: hello from {SECOND_TEAM}" in m.body for m in answered)
        assert blocked == []

        # The second workspace removes the app: Bolt's listener deletes its install.
        uninstalled = {"type": "app_uninstalled", "event_ts": slack_fake.workspace.next_ts()}
        delivery = slack_fake.payloads.event_callback(uninstalled, token=tokens[0])
        await post(slack_fake, events_url(worker), "events_api", delivery)
        async with await SqliteStore.open(tmp_path / "threadline.db") as store:
            await eventually(lambda: gone(store, SECOND_TEAM))
            assert await store.find_installation(None, third) is not None


async def gone(store: SqliteStore, team: str) -> bool:
    return await store.find_installation(None, team) is None


async def install(
    fake: SlackFake, browser: aiohttp.ClientSession, worker: SlackBot, team: str
) -> str:
    """Install the app into ``team`` through ``worker``'s routes; its bot token."""
    async with browser.get(route(worker, "/slack/install"), allow_redirects=False) as r:
        state = URL(r.headers["Location"]).query["state"]
    callback = route(worker, "/slack/oauth_redirect")
    code = fake.oauth.grant(team)
    async with browser.get(
        f"{callback}?code={code}&state={state}",
        headers={"Cookie": f"slack-app-oauth-state={state}"},
    ) as r:
        assert r.status == 200, await r.text()
    return fake.oauth.tokens[team]


@pytest.mark.parametrize(
    ("http", "changes", "sentence"),
    [
        (True, {"client_id": CLIENT_ID}, wording.slack_oauth_half_set()),
        (True, {"client_secret": SecretStr(CLIENT_SECRET)}, wording.slack_oauth_half_set()),
        # Socket Mode: nothing serves /slack/install and /slack/oauth_redirect.
        (
            False,
            {"client_id": CLIENT_ID, "client_secret": SecretStr(CLIENT_SECRET)},
            wording.slack_oauth_needs_http_mode(),
        ),
    ],
)
async def test_oauth_settings_that_cannot_work_are_refused_with_a_sentence(
    make_bot: MakeBot, http: bool, changes: dict[str, Any], sentence: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        await make_bot(http=http, **changes)
    assert caught.value.user_message == sentence


# Both workers catch up at start: the history methods' tier made as short as the
# pace the workers are told (history_import_interval), so neither waits Slack's minute.
HISTORY_READS = RateLimit(burst=1, interval=0.5)
SHORT_HISTORY_TIER = (
    SlackLimits.fast()
    .with_method_limit("conversations.replies", HISTORY_READS)
    .with_method_limit("conversations.history", HISTORY_READS)
)


@pytest.mark.parametrize("slack_fake_limits", [SHORT_HISTORY_TIER], ids=["short-history-tier"])
async def test_a_question_left_unanswered_is_asked_again_by_one_worker(
    slack_fake: SlackFake, workers: Workers, upstream: FakeUpstream, tmp_path: Path
) -> None:
    """Every worker finds the same unanswered question at start; one asks it."""
    ts = slack_fake.workspace.next_ts()
    key = ThreadKey("slack", TEAM, GENERAL, ts)
    async with await SqliteStore.open(tmp_path / "threadline.db") as store:
        question = Turn(
            Role.USER,
            "asked before the stop",
            author_id=ALICE,
            platform_message_id=f"{GENERAL}:{ts}",
            status=TurnStatus.PENDING,
        )
        assert await store.add_turn(key, question) is not None
    # (each start reads the thread once, the catch-up: a short pace for its reads)
    async with workers(2, recover=True, history_import_interval=0.5) as (one, two):
        await slack_fake.wait_for(lambda: upstream.requests, what="the answer")
        await one.idle()
        await two.idle()
        assert len(upstream.requests) == 1
        assert shown(slack_fake, GENERAL, ts) == "You said: asked before the stop"


async def test_a_question_left_waiting_in_an_installed_workspace_is_asked_again(
    slack_fake: SlackFake, workers: Workers, upstream: FakeUpstream, tmp_path: Path
) -> None:
    """Distributed only: a stop left a question waiting in a workspace that came by
    install; the next start asks it with that workspace's own token, not never."""
    oauth = {"bot_token": None, "client_id": CLIENT_ID, "client_secret": SecretStr(CLIENT_SECRET)}
    async with workers(1, **oauth) as (worker,), aiohttp.ClientSession() as browser:
        token = await install(slack_fake, browser, worker, SECOND_TEAM)
    slack_fake.workspace.add_channel(SECOND_CHANNEL, "second-general")
    ts = slack_fake.workspace.next_ts()
    async with await SqliteStore.open(tmp_path / "threadline.db") as store:
        question = Turn(
            Role.USER,
            "asked before the stop",
            author_id=ALICE,
            platform_message_id=f"{SECOND_CHANNEL}:{ts}",
            status=TurnStatus.PENDING,
        )
        key = ThreadKey("slack", SECOND_TEAM, SECOND_CHANNEL, ts)
        assert await store.add_turn(key, question) is not None
    async with workers(1, recover=True, **oauth) as (worker,):
        await slack_fake.wait_for(lambda: upstream.requests, what="the answer")
        await worker.idle()
    answers = [m for m in slack_fake.messages(SECOND_CHANNEL, ts) if m.bot_id is not None]
    [answer] = [m for m in answers if not holds_button(m)]  # without its Regenerate message
    assert answer.body == "You said: asked before the stop"
    assert answer.user == slack_fake.workspace.bot_for(token).id  # the install's own bot


async def test_an_answer_owed_in_an_installed_workspace_is_repaired_with_its_token(
    slack_fake: SlackFake, workers: Workers, tmp_path: Path
) -> None:
    """An outage left an installed workspace's answer half shown: the next start
    finishes it there, through that workspace's own bot (not SLACK_BOT_TOKEN's)."""
    oauth = {"bot_token": None, "client_id": CLIENT_ID, "client_secret": SecretStr(CLIENT_SECRET)}
    async with workers(1, **oauth) as (worker,), aiohttp.ClientSession() as browser:
        token = await install(slack_fake, browser, worker, SECOND_TEAM)
    slack_fake.workspace.add_channel(SECOND_CHANNEL, "second-general")
    ts = slack_fake.workspace.next_ts()
    web = AsyncWebClient(token=token, base_url=slack_fake.base_url)
    posted = await web.chat_postMessage(channel=SECOND_CHANNEL, thread_ts=ts, text="the whole")
    key = ThreadKey("slack", SECOND_TEAM, SECOND_CHANNEL, ts)
    async with await SqliteStore.open(tmp_path / "threadline.db") as store:
        question = await store.add_turn(
            key,
            Turn(
                Role.USER,
                "say it all",
                author_id=ALICE,
                platform_message_id=f"{SECOND_CHANNEL}:{ts}",
            ),
        )
        assert question is not None
        answer = Turn(
            Role.ASSISTANT,
            "the whole answer",
            reply_to=question.id,
            reply_message_ids=(f"{SECOND_CHANNEL}:{posted['ts']}",),
            delivery=Delivery.PENDING,
        )
        assert await store.add_turn(key, answer) is not None
    async with workers(1, recover=True, **oauth) as (worker,):
        await slack_fake.wait_for(
            lambda: (
                [m.body for m in slack_fake.messages(SECOND_CHANNEL, ts)] == ["the whole answer"]
            ),
            what="the repair",
        )
        await worker.idle()
    [message] = [m for m in slack_fake.messages(SECOND_CHANNEL, ts) if m.bot_id is not None]
    assert message.user == slack_fake.workspace.bot_for(token).id
    async with await SqliteStore.open(tmp_path / "threadline.db") as store:
        assert not await store.undelivered_answers("slack")
