"""Stopping: answers in flight end with a notice and are stored as interrupted."""

from __future__ import annotations

from bot import wording
from bot.domain import ThreadKey, TurnStatus
from bot.ports import ConversationStore
from tests.fakes.slack import SlackFake
from tests.fakes.upstream import Answer, FakeUpstream
from tests.slack.conftest import GENERAL, TEAM, MakeBot, bot_messages, shown


async def test_stop_ends_answers_in_flight_and_closes_the_socket(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream, store: ConversationStore
) -> None:
    bot = await make_bot()
    upstream.answer = Answer(tokens=400, tokens_per_s=100)  # four seconds of answer
    mention = slack_fake.payloads.app_mention("a long story please")
    await slack_fake.send_event(mention)
    await slack_fake.wait_for(
        lambda: "tok tok" in shown(slack_fake, GENERAL, mention["ts"]), what="the first words"
    )
    await bot.stop()

    assert slack_fake.socket.connections == []
    [message] = bot_messages(slack_fake, GENERAL, mention["ts"])
    assert message.body.endswith(wording.stopped_notice())
    assert message.stream_state == "stopped"
    window = await store.history(
        ThreadKey("slack", TEAM, GENERAL, mention["ts"]), token_budget=100_000, max_turns=10
    )
    assert window.turns[-1].status is TurnStatus.INTERRUPTED
