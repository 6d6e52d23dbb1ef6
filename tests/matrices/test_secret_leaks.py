"""Issue 22, 5: an upstream that echoes the API key in its error body; the key reaches
neither the thread nor the log, on Discord or on Slack.

OpenAI's own ``invalid_api_key`` message quotes the key (masked); a proxy may quote it
whole, in the message, the code or the trace id. The thread shows threadline's sentence
with the code and trace id only; the log keeps the server's reason, with the key cut.
"""

from __future__ import annotations

import logging

import pytest

from bot import wording
from bot.ports import ConversationStore
from tests.discord.harness import Rig
from tests.fakes.slack import SlackFake
from tests.fakes.slack.fixtures import (  # noqa: F401 - fixtures used by name
    slack_fake_fixture,
    slack_fake_limits_fixture,
)
from tests.fakes.upstream import API_KEY, Answer, FakeUpstream, Fault
from tests.matrices.rigs import (  # noqa: F401 - fixtures used by name
    MakeSlackBot,
    drig_fixture,
    slack_bot_fixture,
)
from tests.slack.conftest import GENERAL, shown

PROMPT = "tell me a story"
# OpenAI's message for a wrong key, with the key echoed whole instead of masked.
ECHO = f"Incorrect API key provided: {API_KEY}. You can find your API key at https://platform.openai.com/account/api-keys."

FAULTS = {
    "message": Fault("openai_error", code="invalid_api_key", status=401, message=ECHO),
    "code-and-trace": Fault(
        "error", code=f"bad_key_{API_KEY}", status=400, message=ECHO, trace_id=API_KEY
    ),
}
# The sentence each fault gets: ours, with the code when it is a plain code.
SHOWN = {
    "message": ("UpstreamAuthError", "invalid_api_key"),
    "code-and-trace": ("UpstreamBadRequest", "unknown_error"),
}


def sentence(fault: str) -> str:
    return wording.upstream_error(*SHOWN[fault], None)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(name)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
async def test_discord_never_shows_or_logs_the_echoed_key(
    drig: Rig, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    caplog.set_level(logging.DEBUG)
    upstream.fail_next(FAULTS[fault])
    async with drig.bot():
        asked = await drig.fake.dispatch_message(content=PROMPT, mentions_bot=True)
        [answer] = await drig.answered(await drig.thread_of(asked))

    assert API_KEY not in answer.content
    assert "Incorrect API key" not in answer.content  # the server's words stay in the log
    assert answer.content == "⚠️ " + sentence(fault)
    log = logged(caplog)
    assert "Incorrect API key provided: [redacted]" in log  # the reason is kept, the key cut
    assert API_KEY not in log


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
async def test_slack_never_shows_or_logs_the_echoed_key(
    slack_fake: SlackFake,
    slack_bot: tuple[MakeSlackBot, ConversationStore],
    upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    make, _store = slack_bot
    bot = await make()
    upstream.fail_next(FAULTS[fault])
    mention = slack_fake.payloads.app_mention(PROMPT)
    await slack_fake.send_event(mention)
    await slack_fake.wait_for(
        lambda: "model service" in shown(slack_fake, GENERAL, mention["ts"]),
        what="the error sentence",
    )
    await bot.idle()

    text = shown(slack_fake, GENERAL, mention["ts"])
    assert API_KEY not in text
    assert API_KEY not in repr(slack_fake.workspace.responses)
    assert "Incorrect API key" not in text
    assert text.endswith(sentence(fault))
    log = logged(caplog)
    assert "Incorrect API key provided: [redacted]" in log
    assert API_KEY not in log


# -- a secret in what the model says -------------------------------------------------


async def test_discord_posts_no_configured_secret_whoever_wrote_it(
    drig: Rig, upstream: FakeUpstream
) -> None:
    """A model that repeats the API key or the bot token: the thread shows [redacted]."""
    upstream.answer = Answer(text=f"key {API_KEY} and token {drig.fake.token}.")
    async with drig.bot():
        asked = await drig.fake.dispatch_message(content=PROMPT, mentions_bot=True)
        [answer] = await drig.answered(await drig.thread_of(asked))
    assert answer.content.startswith("key [redacted] and token [redacted].")


async def test_slack_posts_no_configured_secret_whoever_wrote_it(
    slack_fake: SlackFake,
    slack_bot: tuple[MakeSlackBot, ConversationStore],
    upstream: FakeUpstream,
) -> None:
    make, _store = slack_bot
    bot = await make()
    upstream.answer = Answer(text=f"key {API_KEY} and token {slack_fake.bot_token}.")
    mention = slack_fake.payloads.app_mention(PROMPT)
    await slack_fake.send_event(mention)
    await slack_fake.wait_for(
        lambda: "and token" in shown(slack_fake, GENERAL, mention["ts"]), what="the answer"
    )
    await bot.idle()
    text = shown(slack_fake, GENERAL, mention["ts"])
    assert API_KEY not in text
    assert slack_fake.bot_token not in text
    assert text.startswith("key [redacted] and token [redacted].")
