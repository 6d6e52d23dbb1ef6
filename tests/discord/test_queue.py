"""Nobody waits unseen (issue 19): whoever waits for a reply slot is told so at once."""

from __future__ import annotations

from bot import wording
from bot.settings import ConversationLimits, UpstreamSettings
from bot.upstream import UpstreamClient
from storage import MemoryStore
from tests.discord.harness import RecordingDiscord, Rig
from tests.fakes.upstream import Answer, FakeUpstream


async def test_a_person_waiting_for_a_slot_sees_a_queued_placeholder_then_the_answer(
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    upstream: FakeUpstream,
    fake: RecordingDiscord,
) -> None:
    # The first answer holds the only slot longer than QUEUED_AFTER (bot/service.py).
    upstream.answer = Answer(text="one two three four five six", tokens_per_s=4)
    limits = ConversationLimits(max_concurrent_replies=1)
    rig = Rig(fake, MemoryStore(), client, upstream_settings, limits=limits)
    async with rig.bot():
        asked = [
            await fake.dispatch_message(content=f"question {n}", mentions_bot=True)
            for n in range(2)
        ]
        threads = [await rig.thread_of(question) for question in asked]
        for thread in threads:
            [answer] = await rig.answered(thread, timeout=15)
            assert answer.content == "one two three four five six"
    shown = [
        (method, body["content"])
        for method, path, body in fake.bodies
        if f"/channels/{threads[1]}/messages" in path and "content" in body
    ]
    # The second person's thread said at once that they were queued; when their turn
    # came, the same message became the answer (never a second message).
    assert shown[0] == ("POST", wording.queued())
    assert [method for method, _ in shown[1:]] == ["PATCH"] * (len(shown) - 1)
    assert shown[-1][1] == "one two three four five six"
    first_thread = [
        body["content"]
        for _method, path, body in fake.bodies
        if f"/channels/{threads[0]}/messages" in path and "content" in body
    ]
    assert wording.queued() not in first_thread  # the one answered at once was not queued


async def test_a_slow_model_is_said_to_be_slow_until_its_first_words(
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    upstream: FakeUpstream,
    fake: RecordingDiscord,
) -> None:
    """A first token that takes long (a slow model, a retry) is not a silent ⏳: the
    placeholder says how long it has waited, and the first words replace it."""
    upstream.answer = Answer(text="at last", first_token_delay=1.0)
    limits = ConversationLimits(still_waiting_seconds=0.3)
    rig = Rig(fake, MemoryStore(), client, upstream_settings, limits=limits)
    async with rig.bot():
        asked = await fake.dispatch_message(content="a slow one", mentions_bot=True)
        thread = await rig.thread_of(asked)
        [answer] = await rig.answered(thread, timeout=15)
    assert answer.content == "at last"
    shown = [
        body["content"]
        for _method, path, body in fake.bodies
        if f"/channels/{thread}/messages" in path and "content" in body
    ]
    notes = [text for text in shown if text.startswith("⏳ still waiting")]
    assert notes  # at least one, shown before the answer
    assert shown.index(notes[-1]) < shown.index("at last")
    assert notes[0] == wording.still_waiting(0)  # 0.3 s, rounded
