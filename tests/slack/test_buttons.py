"""Stop while an answer streams and Regenerate after it, as Block Kit buttons whose
state is in their value, clicked through Socket Mode and HTTP interactivity."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.buttons import REGENERATE_ACTION, STOP_ACTION, regenerate_target, stop_blocks
from bot import wording
from bot.domain import TurnStatus
from bot.ports import ConversationStore
from tests.fakes.slack import SlackFake
from tests.fakes.upstream import FakeUpstream, Fault
from tests.slack.conftest import (
    ALICE,
    GENERAL,
    MakeBot,
    bot_messages,
    buttons,
    events_url,
    holds_button,
    wait_shown,
)

BOB = "U0BOB00001"
NATIVE = pytest.mark.parametrize("native", [True, False], ids=["native", "chat.update"])


def button_message(fake: SlackFake, thread: str, action: str) -> Any:
    """The bot's message holding ``action``'s button in ``thread``."""
    for message in fake.messages(GENERAL, thread):
        if holds_button(message) and message.blocks[0]["elements"][0]["action_id"] == action:
            return message
    return None


async def wait_button(fake: SlackFake, thread: str, action: str) -> Any:
    await fake.wait_for(lambda: button_message(fake, thread, action), what=f"a {action} button")
    return button_message(fake, thread, action)


async def click(
    fake: SlackFake, message: Any, *, user: str = ALICE, mode: str = "socket", url: str = ""
) -> str:
    element = message.blocks[0]["elements"][0]
    payload = fake.payloads.block_actions(
        action_id=element["action_id"],
        value=element["value"],
        message_ts=message.ts,
        thread_ts=message.thread_ts,
        user=user,
    )
    if mode == "http":
        sent = await fake.send_interaction(payload, "http", url=url)
    else:
        sent = await fake.send_interaction(payload)
    await fake.wait_for_ack(sent)
    return sent


@NATIVE
async def test_a_finished_answer_gets_regenerate_under_it(
    slack_fake: SlackFake, make_bot: MakeBot, store: ConversationStore, native: bool
) -> None:
    await make_bot(native_streaming=native)
    mention = slack_fake.payloads.app_mention("hello there")
    await slack_fake.send_event(mention)
    await wait_shown(slack_fake, GENERAL, mention["ts"], "You said: hello there")
    held = await wait_button(slack_fake, mention["ts"], REGENERATE_ACTION)

    [answer] = bot_messages(slack_fake, GENERAL, mention["ts"])
    assert float(held.ts) > float(answer.ts)  # under the answer
    [(action, value)] = buttons(slack_fake, GENERAL, mention["ts"])  # Stop is gone
    stored = await store.find_by_message("slack", f"{GENERAL}:{answer.ts}")
    assert stored is not None
    assert regenerate_target(value) == (stored.key, stored.turn.id)
    assert action == REGENERATE_ACTION


@NATIVE
async def test_stop_mid_stream_interrupts_the_answer(
    slack_fake: SlackFake,
    make_bot: MakeBot,
    upstream: FakeUpstream,
    store: ConversationStore,
    native: bool,
) -> None:
    # Role chunk, "You", " said:", then the stream stalls until the answer is stopped.
    upstream.fail_next(Fault("stall", after_chunks=3, seconds=30))
    await make_bot(native_streaming=native)
    mention = slack_fake.payloads.app_mention("tell me a long story")
    await slack_fake.send_event(mention)
    thread = mention["ts"]
    stop = await wait_button(slack_fake, thread, STOP_ACTION)

    await click(slack_fake, stop, user=BOB)  # not the asker, not an admin
    await slack_fake.wait_for(lambda: slack_fake.workspace.responses, what="the refusal")
    [refusal] = slack_fake.workspace.responses
    assert (refusal["text"], refusal["response_type"]) == (
        wording.stop_not_yours("slack"),
        "ephemeral",
    )
    assert button_message(slack_fake, thread, STOP_ACTION) is not None  # still streaming

    await click(slack_fake, stop, user=ALICE)
    await wait_button(slack_fake, thread, REGENERATE_ACTION)
    assert button_message(slack_fake, thread, STOP_ACTION) is None
    [answer] = bot_messages(slack_fake, GENERAL, thread)
    assert wording.stopped_notice() in answer.body
    stored = await store.find_by_message("slack", f"{GENERAL}:{answer.ts}")
    assert stored is not None
    assert stored.turn.status is TurnStatus.INTERRUPTED


async def test_regenerate_answers_again_through_http_interactivity_after_a_restart(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream, store: ConversationStore
) -> None:
    first = await make_bot()
    mention = slack_fake.payloads.app_mention("pick a number")
    await slack_fake.send_event(mention)
    thread = mention["ts"]
    held = await wait_button(slack_fake, thread, REGENERATE_ACTION)
    await first.stop()

    second = await make_bot(http=True)  # the button's state is in its value
    await click(slack_fake, held, user=BOB, mode="http", url=events_url(second))
    await slack_fake.wait_for(lambda: len(upstream.requests) == 2, what="a second answer")
    await slack_fake.wait_for(
        lambda: (
            len(buttons(slack_fake, GENERAL, thread)) == 1
            and button_message(slack_fake, thread, REGENERATE_ACTION) is not None
            and button_message(slack_fake, thread, REGENERATE_ACTION).ts != held.ts
        ),
        what="a new Regenerate button",
    )
    old, new = bot_messages(slack_fake, GENERAL, thread)
    assert new.body == "You said: pick a number"
    assert upstream.requests[1]["messages"][1:] == upstream.requests[0]["messages"][1:]
    old_turn = await store.find_by_message("slack", f"{GENERAL}:{old.ts}")
    assert old_turn is not None
    assert old_turn.turn.status is TurnStatus.FAILED  # no longer context


async def test_a_stop_left_by_a_restart_goes_away_when_clicked(
    slack_fake: SlackFake, make_bot: MakeBot
) -> None:
    await make_bot()
    # A Stop button as a process that died mid-answer left it: nothing runs it now.
    thread = slack_fake.workspace.next_ts()
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(
            token=slack_fake.bot_token, base_url=slack_fake.base_url, session=session
        )
        await client.chat_postMessage(
            channel=GENERAL, thread_ts=thread, text="Stop", blocks=stop_blocks(f"{GENERAL}:1.2")
        )
    stale = await wait_button(slack_fake, thread, STOP_ACTION)
    await click(slack_fake, stale)
    await slack_fake.wait_for(
        lambda: button_message(slack_fake, thread, STOP_ACTION) is None, what="the stale Stop gone"
    )
    assert slack_fake.workspace.responses == []


async def test_an_answer_cut_by_a_shutdown_keeps_no_stop_and_gets_regenerate(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream, store: ConversationStore
) -> None:
    upstream.fail_next(Fault("stall", after_chunks=3, seconds=30))
    bot = await make_bot()
    mention = slack_fake.payloads.app_mention("tell me a long story")
    await slack_fake.send_event(mention)
    thread = mention["ts"]
    await wait_button(slack_fake, thread, STOP_ACTION)
    await bot.stop()

    assert button_message(slack_fake, thread, STOP_ACTION) is None
    held = button_message(slack_fake, thread, REGENERATE_ACTION)
    assert held is not None
    [answer] = bot_messages(slack_fake, GENERAL, thread)
    stored = await store.find_by_message("slack", f"{GENERAL}:{answer.ts}")
    assert stored is not None
    assert regenerate_target(held.blocks[0]["elements"][0]["value"]) == (
        stored.key,
        stored.turn.id,
    )
