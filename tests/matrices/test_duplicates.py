"""Issue 9, matrix A: every kind of incoming event, delivered 2 to 5 times, is
answered once and stored once.

Platforms deliver at least once. Discord: a RESUME may replay dispatches the
bot already had (https://discord.com/developers/docs/events/gateway#resuming),
so the same MESSAGE_CREATE or INTERACTION_CREATE arrives again — after a
reconnect ("resume"), or right behind the first while it is still being
answered ("burst"). Slack: an event not acknowledged in 3 s comes again with the
same ``event_id`` (Socket Mode ``retry_attempt`` ≥ 1, HTTP ``X-Slack-Retry-Num``);
after a restart the bot has forgotten which ids it saw ("fresh id": the same
message in a new envelope); a slash command sent twice carries one
``trigger_id``.

Each case counts what the fakes saw: the bot's messages in the place, the
upstream requests, and the user turns in the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import aiohttp
import pytest

from bot import wording
from bot.domain import ThreadKey
from bot.ports import ConversationStore
from tests.discord.harness import REGENERATE, STOP, Rig, button
from tests.fakes.discord.payloads import Payload
from tests.fakes.slack import SlackFake, SlackLimits
from tests.fakes.slack.events import encode_http_body, sign
from tests.fakes.slack.fixtures import (  # noqa: F401 - fixtures used by name
    slack_fake_fixture,
    slack_fake_limits_fixture,
)
from tests.fakes.upstream import FakeUpstream, Fault
from tests.matrices.rigs import (  # noqa: F401 - fixtures used by name
    MakeSlackBot,
    drig_fixture,
    slack_bot_fixture,
    user_turns,
)
from tests.slack.conftest import BOT, DM, GENERAL, TEAM, bot_messages, events_url, shown
from tests.slack.conftest import wait_shown as slack_wait_shown

# -- Discord -----------------------------------------------------------------------------

DiscordKind = Literal["mention", "thread", "dm", "ask", "regenerate", "stop"]
How = Literal["resume", "burst"]
CALLBACK = "POST /interactions/{interaction_id}/{token}/callback"


@dataclass
class Asked:
    """What the first delivery did, and how to tell the copies have been dealt with."""

    event: str  # the dispatch to deliver again
    match: Callable[[Payload], bool]  # finds that dispatch in the session's buffer
    place: int  # the channel whose bot messages are counted
    key: ThreadKey
    interaction: int | None = None  # copies of an interaction each try its callback
    before: list[int] = field(default_factory=list)  # bot messages before the event


def frame_of(rig: Rig, asked: Asked) -> dict[str, Any]:
    [session] = rig.fake.gateway.sessions.values()
    return next(f for f in session.buffer if f["t"] == asked.event and asked.match(f["d"]))


async def deliver_again(rig: Rig, asked: Asked, copies: int, how: How) -> None:
    """Deliver ``asked``'s dispatch ``copies - 1`` more times."""
    fake = rig.fake
    frame = frame_of(rig, asked)
    for n in range(1, copies):
        if how == "burst":
            await fake.dispatch_raw(asked.event, frame["d"])
            continue
        [session] = fake.gateway.sessions.values()
        await fake.force_reconnect(duplicate=session.seq - int(frame["s"]) + 1)
        await fake.wait_for(partial(resumed, rig, n))


def resumed(rig: Rig, count: int) -> bool:
    return rig.fake.stats().counts.get("resumes", 0) >= count


async def dealt_with(rig: Rig, asked: Asked, copies: int) -> None:
    """Wait until every copy has been seen by the bot.

    An interaction's copies each answer the interaction (the platform refuses all
    but the first). A message's copies pass the channel's intake in order, so once
    a bare mention sent after them is told "nothing to answer", they are through.
    """
    fake = rig.fake
    if asked.interaction is not None:
        path = f"/interactions/{asked.interaction}/"
        await fake.wait_for(
            lambda: len([r for r in fake.requests_to(CALLBACK) if path in r.path]) >= copies
        )
        return
    await fake.dispatch_message(asked.place, content="", mentions_bot=True)
    await fake.wait_for(lambda: wording.empty_prompt() in answers_in(rig, asked.place, all=True))


def answers_in(rig: Rig, channel: int, *, all: bool = False) -> list[str]:
    """The bot's messages in a channel, the "nothing to answer" barrier left out."""
    shown = [m.content for m in rig.bot_messages(channel)]
    return shown if all else [text for text in shown if text != wording.empty_prompt()]


def thread_key(rig: Rig, thread: int) -> ThreadKey:
    fake = rig.fake
    return ThreadKey("discord", str(fake.guild.id), str(fake.channel().id), str(thread))


async def discord_first(rig: Rig, upstream: FakeUpstream, kind: DiscordKind) -> Asked:
    """Deliver the event once, wait for its answer (or, for Stop, for the stop)."""
    fake = rig.fake
    general = fake.channel().id
    if kind == "dm":
        dm = fake.open_dm("bob")
        asked = await fake.dispatch_message(dm, content="hi, once")
        await rig.answered(dm)
        key = ThreadKey("discord", "", str(dm), str(dm))
        return Asked("MESSAGE_CREATE", lambda d: d["id"] == str(asked), dm, key)
    if kind == "ask":
        interaction = await rig.slash("ask", {"prompt": "once, please"})
        await rig.interaction_done(interaction)
        key = ThreadKey("discord", str(fake.guild.id), str(general), str(interaction.id))
        return Asked(
            "INTERACTION_CREATE",
            lambda d: d["id"] == str(interaction.id),
            general,
            key,
            interaction=interaction.id,
        )
    if kind == "stop":
        upstream.fail_next(Fault("stall", after_chunks=3, seconds=30))
    mention = await fake.dispatch_message(content="tell me once", mentions_bot=True)
    thread = await rig.thread_of(mention)
    key = thread_key(rig, thread)
    if kind == "mention":
        await rig.answered(thread)
        return Asked("MESSAGE_CREATE", lambda d: d["id"] == str(mention), general, key)
    if kind == "stop":
        streaming = await fake.wait_for_message(thread, lambda m: "said" in m.content)
        click = await fake.click_button(streaming.id, button(streaming, STOP))
        await rig.answered(thread)
        return Asked(
            "INTERACTION_CREATE", lambda d: d["id"] == str(click.id), thread, key, click.id
        )
    [first] = await rig.answered(thread)
    if kind == "thread":
        follow = await fake.dispatch_message(thread, content="and once more")
        await rig.answered(thread, 2)
        return Asked("MESSAGE_CREATE", lambda d: d["id"] == str(follow), thread, key)
    click = await fake.click_button(first.id, button(first, REGENERATE))
    await rig.interaction_done(click)
    return Asked("INTERACTION_CREATE", lambda d: d["id"] == str(click.id), thread, key, click.id)


# (answers shown in the counted place, upstream requests, user turns stored)
DISCORD_EXPECTED: dict[DiscordKind, tuple[list[str], int, list[str]]] = {
    "mention": ([], 1, ["tell me once"]),  # the answer is in the thread, not the channel
    "thread": (
        ["You said: tell me once", "You said: and once more"],
        2,
        ["tell me once", "and once more"],
    ),
    "dm": (["You said: hi, once"], 1, ["hi, once"]),
    "ask": (["You said: once, please"], 1, ["once, please"]),
    "regenerate": (["You said: tell me once", "You said: tell me once"], 2, ["tell me once"]),
    "stop": ([f"You said:\n\n{wording.stopped_notice()}"], 1, ["tell me once"]),
}

DISCORD_CASES = [
    pytest.param(kind, how, copies, id=f"{kind}-{how}-x{copies}")
    for kind in DISCORD_EXPECTED
    for how, copies in (("resume", 2), ("burst", 5))
]


@pytest.mark.parametrize(("kind", "how", "copies"), DISCORD_CASES)
async def test_discord_event_delivered_again_is_answered_once(
    drig: Rig, upstream: FakeUpstream, kind: DiscordKind, how: How, copies: int
) -> None:
    fake = drig.fake
    async with drig.bot():
        asked = await discord_first(drig, upstream, kind)
        requests_before = upstream.stats.requests
        await deliver_again(drig, asked, copies, how)
        await dealt_with(drig, asked, copies)

    shown_answers, requests, questions = DISCORD_EXPECTED[kind]
    assert answers_in(drig, asked.place) == shown_answers
    assert upstream.stats.requests == requests_before == requests
    assert await user_turns(drig.store, asked.key) == questions
    if kind == "mention":  # the copies did not open the thread again, nor answer in it
        opened = fake.requests_to("POST /channels/{channel_id}/messages/{message_id}/threads")
        assert [r.status for r in opened] == [201]
        assert answers_in(drig, int(asked.key.thread)) == ["You said: tell me once"]
    if how == "resume":
        assert fake.stats().counts["resumes"] == copies - 1


# -- Slack -------------------------------------------------------------------------------

SlackKind = Literal["app_mention", "message.im", "thread", "assistant", "/ask"]
SlackHow = Literal["socket retry", "http retry", "fresh id"]
# An ack deadline of 0 makes the fake redeliver at once, with retry_attempt 1, 2, …
IMPATIENT = SlackLimits.fast(ack_timeout=0.0, max_retries=3)


@dataclass
class SlackAsked:
    event: dict[str, Any] | None  # the inner event (None for a slash command)
    channel: str
    thread_ts: str | None
    key: ThreadKey
    command: dict[str, str] | None = None


async def slack_setup(fake: SlackFake, kind: SlackKind, url: str | None) -> SlackAsked:
    """What comes before the event (a thread to reply in, an assistant thread)."""
    payloads = fake.payloads
    mode: Any = "socket" if url is None else "http"
    if kind == "app_mention":
        event = payloads.app_mention("tell me once")
        return SlackAsked(
            event, GENERAL, event["ts"], ThreadKey("slack", TEAM, GENERAL, event["ts"])
        )
    if kind == "message.im":
        event = payloads.message("hi, once", channel=DM)
        return SlackAsked(event, DM, None, ThreadKey("slack", TEAM, DM, DM))
    if kind == "thread":
        mention = payloads.app_mention("tell me once")
        await fake.send_event(mention, mode, url=url, retries=False)
        await slack_wait_shown(fake, GENERAL, mention["ts"], "You said: tell me once")
        event = payloads.message("and once more", thread_ts=mention["ts"])
        key = ThreadKey("slack", TEAM, GENERAL, mention["ts"])
        return SlackAsked(event, GENERAL, mention["ts"], key)
    if kind == "assistant":
        started = payloads.assistant_thread_started()
        thread_ts = started["assistant_thread"]["thread_ts"]
        await fake.wait_for_ack(await fake.send_event(started, mode, url=url, retries=False))
        event = payloads.message("plan my week", channel=DM, thread_ts=thread_ts)
        return SlackAsked(event, DM, thread_ts, ThreadKey("slack", TEAM, DM, thread_ts))
    command = payloads.slash_command("/ask", "once, please")
    return SlackAsked(None, GENERAL, None, ThreadKey("slack", TEAM, GENERAL, ""), command)


async def slack_deliver(
    fake: SlackFake, asked: SlackAsked, how: SlackHow, copies: int, url: str | None
) -> list[str]:
    """Deliver the event ``copies`` times; returns the delivery ids to wait for."""
    if asked.command is not None:  # not retried by Slack: the same command sent again
        mode: Any = "http" if how == "http retry" else "socket"
        fields: dict[str, Any] = {
            k: v for k, v in asked.command.items() if k not in ("command", "text")
        }
        return [
            await fake.send_command("/ask", asked.command["text"], mode=mode, url=url, **fields)
            for _ in range(copies)
        ]
    assert asked.event is not None
    if how == "socket retry":
        return [await fake.send_event(asked.event)]
    if how == "fresh id":
        sent = [await fake.send_event(asked.event, retries=False)]
        for _ in range(copies - 1):
            again = fake.payloads.event_callback(asked.event)  # a new event_id
            sent.append(await fake.send_event(again, retries=False))
        return sent
    assert url is not None
    body, content_type = encode_http_body("events_api", fake.payloads.event_callback(asked.event))
    async with aiohttp.ClientSession() as session:
        for number in range(copies):
            headers = {"Content-Type": content_type, **sign(body, fake.signing_secret)}
            if number:
                headers |= {
                    "X-Slack-Retry-Num": str(number),
                    "X-Slack-Retry-Reason": "http_timeout",
                }
            async with session.post(url, data=body, headers=headers) as response:
                assert response.status == 200
    return []


def acked_every_attempt(fake: SlackFake, delivery_id: str) -> bool:
    delivery = fake.deliveries[delivery_id]
    return delivery.finished and len(fake.acks_for(delivery_id)) == len(delivery.attempts)


def slack_answers(fake: SlackFake, asked: SlackAsked) -> list[str]:
    """What the bot posted for the question: the answers in its thread (for /ask, the
    quoted question in the channel and the answers under it)."""
    if asked.command is None:
        return [m.body for m in bot_messages(fake, asked.channel, asked.thread_ts)]
    return [m.body for m in bot_messages(fake, asked.channel)]


SLACK_EXPECTED: dict[SlackKind, tuple[int, int, list[str]]] = {
    # (bot messages, upstream requests, user turns)
    "app_mention": (1, 1, ["tell me once"]),
    "message.im": (1, 1, ["hi, once"]),
    "thread": (2, 2, ["tell me once", "and once more"]),
    "assistant": (1, 1, ["plan my week"]),
    "/ask": (2, 1, ["once, please"]),  # the quoted question, and the answer in its thread
}

SLACK_CASES = [
    pytest.param(kind, how, copies, id=f"{kind}-{how}-x{copies}")
    for kind in SLACK_EXPECTED
    for how, copies in (("socket retry", 4), ("http retry", 3), ("fresh id", 2))
]


@pytest.mark.parametrize("slack_fake_limits", [IMPATIENT], ids=["impatient"])
@pytest.mark.parametrize(("kind", "how", "copies"), SLACK_CASES)
async def test_slack_event_delivered_again_is_answered_once(
    slack_fake: SlackFake,
    slack_bot: tuple[MakeSlackBot, ConversationStore],
    upstream: FakeUpstream,
    kind: SlackKind,
    how: SlackHow,
    copies: int,
) -> None:
    make, store = slack_bot
    http = how == "http retry"
    bot = await make(http=http, native_streaming=kind != "assistant")
    url = events_url(bot) if http else None
    asked = await slack_setup(slack_fake, kind, url)
    sent = await slack_deliver(slack_fake, asked, how, copies, url)
    # Bolt runs the listener up to its ``ack()`` before it answers Slack, and the
    # listener hands the work to a task right after: every copy acknowledged means
    # every copy's work has begun, and ``idle`` waits for it.
    for delivery in sent:
        await slack_fake.wait_for(partial(acked_every_attempt, slack_fake, delivery))
    await bot.idle()

    if how == "socket retry" and asked.command is None:
        [delivery] = sent
        attempts = slack_fake.deliveries[delivery].attempts
        # The first try is never acknowledged in 0 s, so at least one retry came;
        # how many more depends on when the acks arrive.
        assert [a.number for a in attempts] == list(range(len(attempts)))
        assert 2 <= len(attempts) <= copies
    messages, requests, questions = SLACK_EXPECTED[kind]
    answers = slack_answers(slack_fake, asked)
    assert len(answers) == messages, answers
    assert upstream.stats.requests == requests
    if asked.command is not None:
        [quote] = [m for m in bot_messages(slack_fake, GENERAL) if m.thread_ts is None]
        key = ThreadKey("slack", TEAM, GENERAL, quote.ts)
        assert shown(slack_fake, GENERAL, quote.ts).endswith("You said: once, please")
    else:
        key = asked.key
    assert await user_turns(store, key) == questions
    assert BOT not in "".join(answers)  # no answer to the bot itself
