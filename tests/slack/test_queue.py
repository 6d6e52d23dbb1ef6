"""Nobody waits unseen on Slack either (issue 19): a question waiting for a reply slot
shows that it is queued, through every wrapper the answer passes (recording, buttons),
on the chat.update path and on native streams alike."""

from __future__ import annotations

import pytest

from bot import wording
from bot.ports import ConversationStore
from bot.service import ReplyService
from bot.settings import ConversationLimits, UpstreamSettings
from bot.upstream import UpstreamClient
from tests.fakes.slack import SlackFake
from tests.fakes.upstream import Answer, FakeUpstream
from tests.services import reply_service
from tests.slack.conftest import GENERAL, MakeBot, shown

ANSWER = "one two three four five six"


@pytest.fixture
def service(
    store: ConversationStore, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> ReplyService:
    """One reply slot: a second question waits for the first answer."""
    limits = ConversationLimits(max_concurrent_replies=1)
    return reply_service(store, client, upstream_settings, limits=limits)


@pytest.mark.parametrize("native", [True, False], ids=["native stream", "chat.update"])
async def test_a_question_waiting_for_a_slot_says_it_is_queued_then_is_answered(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream, native: bool
) -> None:
    upstream.answer = Answer(text=ANSWER, tokens_per_s=4)
    await make_bot(native_streaming=native)
    mentions = [slack_fake.payloads.app_mention(f"question {n}") for n in range(2)]
    for mention in mentions:
        await slack_fake.send_event(mention)
    for mention in mentions:
        thread = mention["ts"]
        await slack_fake.wait_for(
            lambda thread=thread: shown(slack_fake, GENERAL, thread) == ANSWER,
            timeout=15,
            what="the answer",
        )
    posted = [call.args.get("text", "") for call in slack_fake.log.calls("chat.postMessage")]
    assert wording.queued() in posted
