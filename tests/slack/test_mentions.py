"""No mention from the model pings anyone on Slack, on any path: native stream or fallback.

The model's text reaches Slack through the loopback fake, which records every
Web API call; the triggers are looked for in each call and in what the thread shows.
"""

from __future__ import annotations

import itertools

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.assistant import AssistantThreads
from adapters.slack.mentions import MentionGuard, inert
from adapters.slack.native import NativeStreams, StreamOptions
from adapters.slack.target import SlackTarget
from adapters.slack.translate import ReplyPlace
from bot.ports import SystemClock
from bot.streaming import UNLIMITED, EditScheduler
from tests.fakes.slack import SlackFake
from tests.fakes.upstream import Answer, FakeUpstream
from tests.slack.conftest import ALICE, GENERAL, TEAM, MakeBot, bot_messages, shown

ZWSP = "\u200b"
TRIGGERS = ("<!channel>", "<!here>", "<!everyone>", "<@U0ALICE001>", "<!subteam^S123>")
PINGS = (*TRIGGERS, "@here", "@channel", "@everyone")
# One delta a piece: "<" | "!channel>" and "@" | "here" each straddle two appends.
PIECES = (
    "Heads up <",
    "!channel> and <!here> <!everyone> <@U0ALICE001> <!subteam^S123> ",
    "also @",
    "here, &lt;",
    "!channel&gt; and @every",
    "one. Done <",
)
SENT_FIELDS = ("markdown_text", "text")
SENDING = ("chat.startStream", "chat.appendStream", "chat.stopStream")


def sent_texts(fake: SlackFake, methods: tuple[str, ...]) -> list[str]:
    return [
        str(call.args[field])
        for method in methods
        for call in fake.log.calls(method)
        for field in SENT_FIELDS
        if call.args.get(field)
    ]


@pytest.mark.parametrize("native", [True, False], ids=["native-stream", "post-and-update"])
async def test_mentions_from_the_model_reach_slack_inert(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream, native: bool
) -> None:
    upstream.answer = Answer(pieces=PIECES)
    bot = await make_bot(native_streaming=native)
    mention = slack_fake.payloads.app_mention("ping everyone")
    await slack_fake.send_event(mention)
    full = "".join(PIECES)
    await slack_fake.wait_for(
        lambda: "Done" in shown(slack_fake, GENERAL, mention["ts"]), 10, "the answer"
    )
    await bot.idle()
    sent = sent_texts(slack_fake, (*SENDING, "chat.postMessage", "chat.update"))
    if native:
        assert "".join(sent_texts(slack_fake, SENDING)).replace(ZWSP, "") == full
    thread = shown(slack_fake, GENERAL, mention["ts"])
    for text in [*sent, thread]:
        for ping in PINGS:
            assert ping not in text, (ping, text)
    if native:  # markdown_text: an entity is not a way in either
        assert "&lt;!" not in thread


async def test_a_mention_split_between_two_appends_is_inert(slack_fake: SlackFake) -> None:
    """Each piece is appended only once the one before reached Slack, so every trigger
    in ``PIECES`` that straddles two pieces straddles two appendStream calls."""
    client = AsyncWebClient(token=slack_fake.bot_token, base_url=slack_fake.base_url)
    top = ReplyPlace(GENERAL, None, ALICE, TEAM)
    question = await SlackTarget(client, top, AssistantThreads(client)).post("a question")
    place = ReplyPlace(GENERAL, question.id, ALICE, TEAM)
    clock = SystemClock()
    options = StreamOptions(append_interval=0.0, appends_per_minute=6_000)
    streams = NativeStreams(client, EditScheduler(UNLIMITED, clock), options, clock)
    reply = streams.reply(SlackTarget(client, place, AssistantThreads(client)))
    await reply.start()
    for piece in PIECES:
        calls = len(sent_texts(slack_fake, SENDING))
        await reply.append(piece)
        await slack_fake.wait_for(lambda n=calls: len(sent_texts(slack_fake, SENDING)) > n)
    await reply.finish()
    await streams.close()
    assert len(sent_texts(slack_fake, SENDING)) == len(PIECES) + 1  # the last "<" at the stop
    [answer] = bot_messages(slack_fake, GENERAL, question.id)[1:]
    assert answer.body == inert("".join(PIECES))
    for ping in (*PINGS, "&lt;!"):
        assert ping not in answer.body, ping


def test_a_guarded_stream_cut_anywhere_is_inert_and_complete() -> None:
    text = "x<@he <!channel> @here &lt;@U1> <@@here y&lt;&lt;!z @ @everyone<"
    for first, second in itertools.combinations_with_replacement(range(len(text) + 1), 2):
        guard = MentionGuard()
        pieces = (text[:first], text[first:second], text[second:])
        out = "".join(guard.feed(piece) for piece in pieces) + guard.flush()
        assert out == inert(text), (first, second)
    assert inert(text).replace(ZWSP, "") == text
    assert not any(ping in inert(text) for ping in ("<!", "<@", "&lt;!", "@here", "@everyone"))


def test_inert_is_idempotent_and_leaves_plain_text_alone() -> None:
    text = "a < b, x@example.com, <#C123|general>, <https://example.com|link> & done"
    assert inert(text) == text
    once = inert("<!here> @channel <@U1>")
    assert inert(once) == once
