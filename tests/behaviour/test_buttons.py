"""Stop while an answer streams, Regenerate after it: the same on Discord and Slack."""

from __future__ import annotations

from bot import wording
from tests.behaviour.chats import Chat
from tests.fakes.upstream import FakeUpstream, Fault


async def test_only_the_asker_or_an_admin_stops_and_anyone_regenerates(
    chat: Chat, upstream: FakeUpstream
) -> None:
    # Role chunk, "You", " said:", then the stream stalls until the answer is stopped.
    upstream.fail_next(Fault("stall", after_chunks=3, seconds=30))
    async with chat.bot():
        await chat.start_answer("tell me a long story", who="admin")
        await chat.click("stop", who="member")  # neither the asker nor an admin
        refusal = await chat.told()
        await chat.click("stop", who="listed")  # on *_ADMIN_USER_IDS
        await chat.wait_button("regenerate")
        stopped = chat.answers()
        await chat.click("regenerate", who="member")
        await chat.until(lambda: len(upstream.requests) == 2)
        await chat.until(lambda: len(chat.answers()) == 2)
        await chat.wait_button("regenerate")
        answers = chat.answers()
    assert refusal == wording.stop_not_yours(chat.platform)
    assert len(stopped) == 1
    assert wording.stopped_notice() in stopped[0]
    assert answers[-1] == "You said: tell me a long story"
    assert upstream.requests[0]["messages"] == upstream.requests[1]["messages"]
