"""Issue 17: after an edit Discord counted a question's image tokens and Slack did not.
``Conversations.edited`` counts them on both (tests/core/test_conversations.py); this
drives a real Slack edit through Bolt to show the Slack adapter uses it."""

from __future__ import annotations

from bot.conversation import IMAGE_TOKENS, estimate_tokens
from bot.ports import ConversationStore
from tests.fakes.slack import SlackFake
from tests.slack.conftest import DM, MakeBot, bot_messages

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


async def test_an_edited_question_with_an_image_still_counts_the_image(
    slack_fake: SlackFake, make_bot: MakeBot, store: ConversationStore
) -> None:
    bot = await make_bot()
    image = slack_fake.workspace.add_file("whiteboard.png", PNG, "image/png")
    question = slack_fake.payloads.message("what does it say?", channel=DM, files=[image])
    await slack_fake.send_event(question)
    await slack_fake.wait_for(lambda: bot_messages(slack_fake, DM), what="the answer")
    await bot.idle()

    edit = slack_fake.payloads.message_changed(
        channel=DM, ts=question["ts"], text="what colour is it?", previous_text="what does it say?"
    )
    await slack_fake.wait_for_ack(await slack_fake.send_event(edit))
    await bot.idle()

    found = await store.find_by_message("slack", f"{DM}:{question['ts']}")
    assert found is not None
    assert found.turn.text == "what colour is it?"
    assert found.turn.tokens == estimate_tokens("what colour is it?") + IMAGE_TOKENS
