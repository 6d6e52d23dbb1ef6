"""The ReplyTarget boundary: Slack's answers become threadline's errors; files go in threads."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.assistant import AssistantThreads
from adapters.slack.target import SlackTarget
from adapters.slack.translate import ReplyPlace
from bot.errors import PlatformError, PlatformRateLimited
from bot.ports import MessageRef
from tests.fakes.slack import RateLimit, SlackFake, SlackLimits
from tests.slack.conftest import ALICE, GENERAL, TEAM

ONE_POST = SlackLimits.fast().with_method_limit(
    "chat.postMessage", RateLimit(burst=1, interval=60.0)
)


def target_for(fake: SlackFake, thread_ts: str | None = None) -> SlackTarget:
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.base_url)
    place = ReplyPlace(GENERAL, thread_ts, ALICE, TEAM)
    return SlackTarget(client, place, AssistantThreads(client))


async def test_post_edit_delete_and_upload_into_the_thread(slack_fake: SlackFake) -> None:
    parent = target_for(slack_fake)
    question = await parent.post("a question")
    target = target_for(slack_fake, question.id)
    ref = await target.post("draft")
    await target.edit(ref, "final")
    await target.upload("chart.png", b"\x89PNG fake", "image/png")
    thread = slack_fake.messages(GENERAL, question.id)
    assert [(m.text, m.files) for m in thread[1:]] == [("final", ()), ("", ("chart.png",))]
    await target.delete(ref)
    assert len(slack_fake.messages(GENERAL, question.id)) == 2
    assert target.limits.max_message_chars == 4_000
    assert target.bucket == GENERAL


@pytest.mark.parametrize("slack_fake_limits", [ONE_POST], ids=["one-post-a-minute"])
async def test_a_429_becomes_platform_rate_limited(slack_fake: SlackFake) -> None:
    target = target_for(slack_fake)
    await target.post("one")
    with pytest.raises(PlatformRateLimited) as limited:
        await target.post("two")
    assert limited.value.retry_after == 60.0
    assert (limited.value.bucket, limited.value.is_global) == (GENERAL, False)


async def test_other_refusals_become_platform_errors(slack_fake: SlackFake) -> None:
    target = target_for(slack_fake)
    with pytest.raises(PlatformError) as refused:
        await target.post("x" * 4_001)
    assert refused.value.code == "msg_too_long"
    assert "msg_too_long" in refused.value.user_message
    with pytest.raises(PlatformError) as missing:
        await target.edit(MessageRef(GENERAL, "1.000001"), "edit")
    assert missing.value.code == "message_not_found"
