"""Native streaming and the chat.update fallback end in the same, exact final text.

The documented request (model gpt-4, last user text "hello") streams the seed's
answer token by token (tests/fakes/upstream/seeds.py); whatever the connection
mode and whichever way the answer is shown, the thread must end showing exactly it.
"""

from __future__ import annotations

import pytest

from bot.domain import ConversationSettings, ThreadKey
from bot.ports import ConversationStore
from tests.fakes.slack import SlackFake
from tests.fakes.upstream import FakeUpstream, seeds
from tests.slack.conftest import GENERAL, TEAM, MakeBot, bot_messages, events_url, wait_shown

SEED_ANSWER = "Hi there! How can I assist you today?"


def test_the_seed_answer_is_the_documented_one() -> None:
    assert "".join(seeds.STREAM_TOKENS) == SEED_ANSWER


@pytest.mark.parametrize("native", [True, False], ids=["native", "chat.update"])
@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_a_mention_ends_in_the_exact_seed_answer(
    slack_fake: SlackFake,
    make_bot: MakeBot,
    upstream: FakeUpstream,
    store: ConversationStore,
    mode: str,
    native: bool,
) -> None:
    http = mode == "http"
    bot = await make_bot(http=http, native_streaming=native)
    await store.save_settings(
        ThreadKey("slack", TEAM, GENERAL, ""), ConversationSettings(model="gpt-4")
    )
    mention = slack_fake.payloads.app_mention("hello")
    url = events_url(bot) if http else None
    ack = await slack_fake.wait_for_ack(await slack_fake.send_event(mention, mode, url=url))
    assert ack.mode == mode
    await wait_shown(slack_fake, GENERAL, mention["ts"], SEED_ANSWER)
    await bot.idle()

    assert upstream.requests[-1]["model"] == "gpt-4"
    assert upstream.requests[-1]["messages"][-1] == {"role": "user", "content": "hello"}
    [answer] = bot_messages(slack_fake, GENERAL, mention["ts"])
    if native:  # markdown, appended to a stream that is then stopped
        assert (answer.markdown, answer.stream_state) == (SEED_ANSWER, "stopped")
        assert slack_fake.log.calls("chat.update") == []
    else:  # mrkdwn text, posted then edited
        assert (answer.text, answer.markdown) == (SEED_ANSWER, None)
        assert slack_fake.log.calls("chat.update")
        assert slack_fake.log.calls("chat.startStream") == []
