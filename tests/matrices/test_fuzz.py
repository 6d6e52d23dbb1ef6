"""Issue 9, matrix C: fuzzed payloads end in a clear refusal or a silent ignore.

Hypothesis feeds the pure translation functions (adapters/*/translate.py) and the
real code paths — signed HTTP bodies into a SlackBot in HTTP mode, gateway
dispatches into a DiscordBot — with huge messages, control characters,
zero-width and emoji floods, hundreds of attachments, malformed and truncated
JSON, unknown event types and fields of the wrong type.

Never a crash: the pure functions return a value of their documented type or
None; the bots answer HTTP below 500, log no error, and still answer a plain
question afterwards. Never a stored half-turn: in the SQLite file every
question has its answer and no answer is left ``streaming``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from adapters.discord.translate import MAX_THREAD_NAME, clean_text, thread_name
from adapters.slack import SlackBot
from adapters.slack.translate import (
    AssistantThreadStarted,
    BotIdentity,
    MessageDeletion,
    MessageEdit,
    PersonMessage,
    SlashCommand,
    earlier_messages,
    event_from_body,
    plain_text,
    retry_number,
    shared_files,
    slash_command,
    ts_order,
)
from bot import wording
from bot.domain import ThreadKey
from bot.settings import UpstreamSettings
from bot.upstream import UpstreamClient
from storage import SqliteStore
from tests.discord.harness import FAST_DISCORD, RecordingDiscord, Rig
from tests.fakes.discord import FakeFile
from tests.fakes.slack import SlackFake
from tests.fakes.slack.events import encode_http_body, sign
from tests.fakes.slack.fixtures import (  # noqa: F401 - fixtures used by name
    slack_fake_fixture,
    slack_fake_limits_fixture,
)
from tests.fakes.upstream import FakeUpstream
from tests.matrices.rigs import (  # noqa: F401 - fixtures used by name
    MakeSlackBot,
    slack_bot_fixture,
    slack_service,
    start_slack_bot,
)
from tests.slack.conftest import ALICE, BOT, DM, GENERAL, TEAM, events_url, wait_shown

ME = BotIdentity(user_id=BOT, bot_id="B0BOT00001", team_id=TEAM)
THROUGH = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# -- strategies -------------------------------------------------------------------------

ODD = [
    "\x00", "\x07", "\x1b[31m", "\r\n", "\t", "\u200b", "\u200d", "\u2060", "\ufeff",
    "\u202e", "\u0301", "😀", "👨‍👩‍👧‍👦", "🏳️‍🌈", "字", "<@U0BOT00001>", f"<@{ALICE}>",
    "<!channel>", "&lt;", "&amp;", "<http://x.example|x>", "```", "**", "<@&1>", "<#2>",
    "<@99999999999999999999999>", "@everyone", "\\", '"', "}", "{",
]  # fmt: skip


def flood(pieces: list[str], at_most: int) -> st.SearchStrategy[str]:
    return st.builds(lambda piece, n: piece * n, st.sampled_from(pieces), st.integers(1, at_most))


def texts(huge: int) -> st.SearchStrategy[str]:
    """Words people write and words nobody should: control characters, zero-width
    joiners, emoji floods, mention look-alikes, and messages up to ``huge`` long."""
    return st.one_of(
        st.text(max_size=200),
        st.lists(st.sampled_from(ODD), max_size=300).map("".join),
        flood(ODD, huge // 8),
        flood(["a", "word ", "🙂"], huge // 2).map(lambda s: s[:huge]),
    )


KEYS = st.one_of(
    st.sampled_from(
        ["type", "subtype", "user", "text", "ts", "thread_ts", "channel", "files", "bot_id"]
    ),
    st.text(max_size=8),
)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    texts(2_000),
)
JSON = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)
TS = st.one_of(
    st.sampled_from(["1700000000.000100", "1700000000.000200", "", "0", "abc", "1.2.3"]),
    st.text(max_size=20),
)


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes anything at all."""
    return st.one_of(values, values, values, JSON)


SLACK_FILE = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(st.text(max_size=12)),
        "name": maybe(texts(300)),
        "mimetype": maybe(st.sampled_from(["image/png", "text/plain", "application/pdf", ""])),
        "size": maybe(st.integers(-5, 10**12)),
        "url_private": maybe(st.text(max_size=40)),
    },
)
SLACK_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "type": maybe(
        st.sampled_from(
            [
                "message",
                "app_mention",
                "assistant_thread_started",
                "assistant_thread_context_changed",
                "reaction_added",
                "app_home_opened",
                "some_event_of_2030",
            ]
        )
    ),
    "subtype": maybe(
        st.sampled_from(
            [
                *(None, "file_share", "thread_broadcast", "bot_message", "message_changed"),
                *("message_deleted", "channel_join", "me_message", "huddle_thread"),
            ]
        )
    ),
    "user": maybe(st.sampled_from([ALICE, BOT, "", "U0SOMEONE1"])),
    "text": maybe(texts(45_000)),
    "channel": maybe(st.sampled_from([GENERAL, DM, "C0UNKNOWN1", ""])),
    "channel_type": maybe(st.sampled_from(["channel", "im", "mpim", "group"])),
    "ts": maybe(TS),
    "thread_ts": st.one_of(st.none(), maybe(TS)),
    "bot_id": st.one_of(st.none(), maybe(st.text(max_size=10))),
    "hidden": maybe(st.booleans()),
    "files": maybe(st.lists(SLACK_FILE, max_size=300)),
    "message": JSON,
    "previous_message": JSON,
    "deleted_ts": maybe(TS),
    "assistant_thread": maybe(
        st.fixed_dictionaries(
            {},
            optional={"channel_id": JSON, "thread_ts": JSON, "user_id": JSON, "context": JSON},
        )
    ),
}
SLACK_EVENT = st.fixed_dictionaries({}, optional=SLACK_FIELDS)
SLACK_BODY = st.fixed_dictionaries(
    {"type": st.just("event_callback"), "event": maybe(SLACK_EVENT)},
    optional={"team_id": maybe(st.just(TEAM)), "event_id": maybe(st.text(max_size=12))},
)

SlackResult = PersonMessage | MessageEdit | MessageDeletion | AssistantThreadStarted | None

# -- the pure functions ------------------------------------------------------------------


def edited(previous: Any) -> dict[str, Any]:
    """A ``message_changed`` event whose ``previous_message`` is ``previous``."""
    new = {"user": ALICE, "text": "new words", "ts": "1700000000.000100"}
    event = {"type": "message", "subtype": "message_changed", "channel": GENERAL}
    return {
        "type": "event_callback",
        "event": event | {"message": new, "previous_message": previous},
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SLACK_BODY)
@example(edited([1]))  # found by this test: a previous_message that is not an object
@example(edited("text"))
@example({"type": "event_callback", "event": {"type": "message", "subtype": []}})  # found too
def test_slack_events_translate_or_are_ignored(body: dict[str, Any]) -> None:
    event = event_from_body(body, ME)
    assert isinstance(event, SlackResult)
    if isinstance(event, PersonMessage):
        incoming = event.incoming
        assert incoming.key.platform == "slack"
        assert incoming.message_id == f"{event.place.channel}:{event.ts}"
        assert event.place.channel
        assert event.ts
        assert isinstance(incoming.text, str)
        assert f"<@{BOT}>" not in incoming.text  # the bot's own mention is gone
        assert all(isinstance(f.size, int) and f.size >= 0 for f in event.files)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(KEYS | st.sampled_from(["command", "trigger_id", "thread_ts"]), JSON))
def test_slash_command_fields_of_any_shape_become_strings(body: dict[str, Any]) -> None:
    command = slash_command(body)
    assert isinstance(command, SlashCommand)
    fields = (command.name, command.text, command.user_id, command.channel_id, command.trigger_id)
    assert all(isinstance(value, str) for value in fields)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(SLACK_EVENT, st.dictionaries(KEYS, JSON)), max_size=20),
    TS,
    JSON,
    st.dictionaries(st.sampled_from(["x-slack-retry-num", "other"]), st.lists(st.text())),
)
def test_slack_helpers_take_any_input(
    messages: list[dict[str, Any]], ts: str, files: Any, headers: dict[str, list[str]]
) -> None:
    key = ThreadKey("slack", TEAM, GENERAL, "1700000000.000100")
    for found in earlier_messages(messages, ME, key=key, before_ts="1800000000.000000"):
        assert found.key == key
        assert found.text
    assert isinstance(ts_order(ts), tuple)
    assert all(f.size >= 0 for f in shared_files(files))
    assert retry_number(headers) >= 0 or headers.get("x-slack-retry-num")
    assert isinstance(plain_text(str(files), BOT), str)


@settings(max_examples=300, deadline=None)
@given(texts(6_000), st.integers(0, 2**64), st.one_of(st.none(), st.integers(0, 2**64)))
def test_discord_prompts_and_thread_names_from_any_text(
    content: str, bot_id: int, role_id: int | None
) -> None:
    prompt = clean_text(
        content,
        bot_id=bot_id,
        bot_role_id=role_id,
        users={1: "ada"},
        roles={1: "mods"},
        channels={2: "general"},
    )
    assert f"<@{bot_id}>" not in prompt
    name = thread_name(prompt, wording.discord_thread_name("ada"))
    assert 0 < len(name) <= MAX_THREAD_NAME
    assert "\n" not in name


# -- the stored conversations ------------------------------------------------------------


def half_turns(path: Path) -> list[tuple[Any, ...]]:
    """Questions without an answer, and answers still ``streaming``, in the SQLite file."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        unanswered = db.execute(
            "SELECT 'unanswered', id, substr(text, 1, 40) FROM turns q WHERE role = 'user' "
            "AND NOT EXISTS (SELECT 1 FROM turns a WHERE a.reply_to = q.id)"
        ).fetchall()
        streaming = db.execute(
            "SELECT 'streaming', id, substr(text, 1, 40) FROM turns WHERE status = 'streaming'"
        ).fetchall()
    return unanswered + streaming


# -- Slack: signed bodies into a real SlackBot (HTTP mode) --------------------------------


def answerable(fake: SlackFake) -> st.SearchStrategy[dict[str, Any]]:
    """A mention, a DM or an assistant-thread message with a few fields fuzzed: most
    of these reach the service and are answered or refused."""
    payloads = fake.payloads
    base = st.sampled_from(["mention", "dm", "assistant"]).map(
        lambda kind: (
            payloads.app_mention("hi")
            if kind == "mention"
            else payloads.message("hi", channel=DM, thread_ts=None if kind == "dm" else "1.000100")
        )
    )
    changes = st.dictionaries(
        st.sampled_from(["text", "text", "text", "files", "subtype", "thread_ts", "ts", "user"]),
        st.none(),
        max_size=3,
    ).flatmap(lambda keys: st.fixed_dictionaries({k: SLACK_FIELDS[k] for k in keys}))
    event = st.builds(lambda e, c: {**e, **c}, base, changes)
    return event.map(payloads.event_callback)


def slack_bodies(fake: SlackFake) -> st.SearchStrategy[tuple[bytes, str]]:
    """(body, content type): events, truncated JSON, any bytes, slash commands."""
    event = SLACK_BODY.map(lambda b: json.dumps(b).encode())
    answer = answerable(fake).map(lambda b: (json.dumps(b).encode(), "application/json"))
    truncated = st.tuples(event, st.integers(0, 200)).map(lambda p: p[0][: len(p[0]) // 2 + p[1]])
    command = st.fixed_dictionaries(
        {
            "command": maybe(st.sampled_from(["/ask", "/model", "/system", "/usage", "/nope"])),
            "text": texts(5_000),
            "user_id": st.just(ALICE),
            "channel_id": st.sampled_from([GENERAL, DM]),
            "team_id": st.just(TEAM),
            "trigger_id": st.text(min_size=1, max_size=20),
            "response_url": st.just(fake.payloads.response_url()),
        }
    ).map(lambda fields: {k: str(v) for k, v in fields.items()})
    return st.one_of(
        answer,
        answer,
        answer,
        answer,
        event.map(lambda b: (b, "application/json")),
        truncated.map(lambda b: (b, "application/json")),
        st.binary(max_size=300).map(lambda b: (b, "application/json")),
        st.sampled_from([b"[]", b"1", b'"x"', b"null", b"{}", b"payload=%5B%5D", b"payload=x"]).map(
            lambda b: (b, "application/x-www-form-urlencoded")
        ),
        JSON.map(lambda j: (json.dumps(j).encode(), "application/json")),
        command.map(lambda c: encode_http_body("slash_commands", c)),
    )


@pytest.fixture
async def slack_http(
    slack_fake: SlackFake,
    upstream: FakeUpstream,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[tuple[SlackBot, Path]]:
    """An HTTP-mode SlackBot on SQLite. Afterwards — every example delivered — it
    still answers a plain mention, and nobody logged an error."""
    caplog.set_level(logging.WARNING)
    path = tmp_path / "threadline.db"
    async with await SqliteStore.open(path) as store:
        service = slack_service(store, client, upstream_settings)
        bot = await start_slack_bot(slack_fake, service, store, upstream_settings, http=True)
        try:
            yield bot, path
            await bot.idle()
            fuzzed = upstream.stats.requests
            mention = slack_fake.payloads.app_mention("still there?")
            await slack_fake.send_event(mention, "http", url=events_url(bot))
            await wait_shown(slack_fake, GENERAL, mention["ts"], "You said: still there?")
            await bot.idle()
        finally:
            await bot.stop()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert half_turns(path) == []
    assert fuzzed > 0  # the fuzz reached the model, not only the door


@THROUGH
@given(data=st.data())
async def test_fuzzed_slack_deliveries_are_refused_or_ignored(
    slack_fake: SlackFake,
    slack_http: tuple[SlackBot, Path],
    data: st.DataObject,
) -> None:
    bot, path = slack_http
    body, content_type = data.draw(slack_bodies(slack_fake))
    headers = {"Content-Type": content_type, **sign(body, slack_fake.signing_secret)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(events_url(bot), data=body, headers=headers) as response,
    ):
        assert response.status < 500, await response.text()
    await bot.idle()
    assert half_turns(path) == []


# -- Discord: gateway dispatches into a real DiscordBot -----------------------------------

FILE_NAMES = st.one_of(
    st.sampled_from(["notes.txt", "photo.png", "x.jpg", "data.csv", "a.pdf", "run.exe", ".env"]),
    texts(120).filter(bool),
)
FILES = st.lists(
    st.builds(
        FakeFile,
        filename=FILE_NAMES,
        data=st.one_of(st.binary(max_size=64), st.just(b"print('hi')\n")),
        content_type=st.sampled_from(["", "text/plain", "image/png", "application/octet-stream"]),
    ),
    max_size=300,
)
DISCORD_EVENTS = ["SOMETHING_NEW_IN_2030", "THREADLINE_UNHEARD_OF", "X"]


@pytest.fixture
async def discord_bot(
    upstream: FakeUpstream,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[tuple[Rig, Path]]:
    """A started DiscordBot on SQLite. Afterwards — every example dispatched — it
    still answers a plain mention, and nobody logged an error."""
    caplog.set_level(logging.WARNING)
    path = tmp_path / "threadline.db"
    async with (
        await SqliteStore.open(path) as store,
        RecordingDiscord(FAST_DISCORD) as fake,
    ):
        rig = Rig(fake, store, client, upstream_settings)
        async with rig.bot():
            yield rig, path
            fuzzed = upstream.stats.requests
            asked = await fake.dispatch_message(content="still there?", mentions_bot=True)
            [answer] = await rig.answered(await rig.thread_of(asked))
            assert answer.content == "You said: still there?"
        assert half_turns(path) == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert fuzzed > 0  # the fuzz reached the model, not only the door


async def said_nothing_to_answer(rig: Rig, channel: int) -> None:
    """Dispatch a bare mention and wait for its "nothing to answer": the channel's
    intake takes messages in order, so everything sent before it is through."""
    before = len([m for m in rig.bot_messages(channel) if m.content == wording.empty_prompt()])
    await rig.fake.dispatch_message(channel, content="", mentions_bot=True)
    await rig.fake.wait_for(
        lambda: (
            len([m for m in rig.bot_messages(channel) if m.content == wording.empty_prompt()])
            > before
        )
    )


@THROUGH
@example(where="odd type", content=".", files=[], odd=[1], event=DISCORD_EVENTS[0])  # found too
@given(
    where=st.sampled_from(["mention", "dm", "odd type", "unknown event"]),
    content=texts(4_000),  # Discord's longest message (Nitro): 4,000 characters
    files=FILES,
    odd=st.one_of(st.integers(-5, 100), JSON),
    event=st.sampled_from(DISCORD_EVENTS),
)
async def test_fuzzed_discord_dispatches_are_refused_or_ignored(
    discord_bot: tuple[Rig, Path],
    caplog: pytest.LogCaptureFixture,
    where: str,
    content: str,
    files: list[FakeFile],
    odd: Any,
    event: str,
) -> None:
    rig, path = discord_bot
    fake = rig.fake
    channel = fake.channel().id
    assume(
        where in ("mention", "unknown event") or content or files
    )  # Discord sends no empty message
    if where == "dm":
        channel = fake.open_dm("bob")
        await fake.dispatch_message(channel, content=content, attachments=files)
    elif where == "mention":
        await fake.dispatch_message(content=content, attachments=files, mentions_bot=True)
    elif where == "odd type":  # a message type Discord may add one day
        asked = fake.world.create_message(fake.channel(), fake.user("alice"), content or ".")
        payload = fake.render.message(asked, gateway=True) | {"type": odd}
        await fake.dispatch_raw("MESSAGE_CREATE", payload)
    else:
        await fake.dispatch_raw(event, {"odd": odd, "content": content})
    await said_nothing_to_answer(rig, channel)

    async def settled() -> bool:
        return half_turns(path) == []

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            while not await settled():
                await asyncio.sleep(0.01)
    assert half_turns(path) == []
    # discord.py logs a listener's exception and goes on: a crash would pass unseen.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


JUNK = [
    b"\x00\xff",  # not UTF-8
    b"[]",  # JSON, not an object
    b'{"type": "event_callback", "event": null}',
    b'{"type": "event_callback", "event": {"user": false}}',  # found by the fuzz above
    # found by the fuzz too: an assistant thread event without its thread
    b'{"type":"event_callback","event":{"type":"assistant_thread_started","channel":"C0GENERAL1"}}',
    b"payload=%5B%5D",  # an interaction form whose payload is not an object
]


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize("body", JUNK, ids=[b.decode(errors="replace")[:30] for b in JUNK])
async def test_junk_posted_to_the_events_endpoint_is_a_400_or_401_not_a_500(
    slack_fake: SlackFake,
    slack_bot: tuple[MakeSlackBot, Any],
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    signed: bool,
) -> None:
    make, _ = slack_bot
    bot = await make(http=True)
    content_type = "application/x-www-form-urlencoded" if body.startswith(b"payload") else ""
    headers = {"Content-Type": content_type or "application/json"}
    if signed:
        headers |= sign(body, slack_fake.signing_secret)
    async with (
        aiohttp.ClientSession() as session,
        session.post(events_url(bot), data=body, headers=headers) as response,
    ):
        assert response.status == (400 if signed else 401)  # unsigned: refused unread
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
