"""The issue's "Done means", end to end: the real DiscordBot, the loopback Discord,
and the upstream fake answering with the API docs' exact stream (seeds.py).

The model is gpt-4 and the prompt "hello", so the fake streams the documented
chunks, whose text is exactly ``SEED_TEXT``; ``Answer(tokens_per_s=...)`` paces
them so the answer is still being written while a test interferes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from bot import wording
from bot.domain import TurnStatus
from bot.settings import UpstreamSettings
from bot.streaming import BudgetPlan, Rate
from bot.upstream import UpstreamClient
from storage import MemoryStore
from tests.discord.harness import STOP, RecordingDiscord, Rig, button
from tests.fakes.discord import FakeConfig, Message
from tests.fakes.upstream import Answer, FakeUpstream, Fault, seeds

SEED_TEXT = "Hi there! How can I assist you today?"
EDIT = "PATCH /channels/{channel_id}/messages/{message_id}"


def answer_with_gpt_4(rig: Rig) -> None:
    """The service's default model is gpt-4: with "hello", the documented request."""
    rig.upstream_settings = rig.upstream_settings.model_copy(update={"default_model": "gpt-4"})


def assert_grew_by_edits(message: Message) -> None:
    """The placeholder first, then ever longer beginnings of the seed text, then all of it."""
    versions = [v for i, v in enumerate(message.history) if i == 0 or v != message.history[i - 1]]
    assert versions[0] == wording.THINKING_PLACEHOLDER
    assert versions[-1] == SEED_TEXT
    partial = [v.removesuffix(wording.IN_PROGRESS_MARKER) for v in versions[1:-1]]
    assert all(SEED_TEXT.startswith(v) for v in partial), versions
    assert message.edit_count >= len(versions) - 1


async def assert_stored_complete(rig: Rig, answer: Message) -> None:
    stored = await rig.store.find_by_message("discord", str(answer.id))
    assert stored is not None
    assert (stored.turn.status, stored.turn.text) == (TurnStatus.COMPLETE, SEED_TEXT)


def test_the_seed_stream_spells_the_seed_text() -> None:
    assert "".join(seeds.STREAM_TOKENS) == SEED_TEXT


# -- 1. a mention opens a thread and streams the answer by edits -------------------------


async def test_a_mention_streams_the_documented_answer_by_edits(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    answer_with_gpt_4(rig)
    upstream.answer = Answer(tokens_per_s=20)  # the 13 documented chunks over ~0.6 s
    async with rig.bot():
        asked = await fake.dispatch_message(content="hello", mentions_bot=True)
        thread_id = await rig.thread_of(asked)
        [answer] = await rig.answered(thread_id)

    assert fake.world.channels[thread_id].name == "hello"
    assert answer.content == SEED_TEXT
    assert_grew_by_edits(answer)
    # Words were shown before the last one arrived: the answer streamed.
    assert any(v.endswith(wording.IN_PROGRESS_MARKER) for v in answer.history), answer.history
    [request] = upstream.requests
    assert request["model"] == "gpt-4"
    assert request["stream"] is True
    assert request["messages"][-1] == {"role": "user", "content": "hello"}
    await assert_stored_complete(rig, answer)


# -- 2. a 429 storm delays edits but loses none ------------------------------------------

# A quicker bucket than FAST_DISCORD's, so the storm's waits stay short; the bot's
# scheduler gets the same budget, so every 429 below is the storm's.
STORM_BUCKET = Rate(5, 0.1)
# The first five 429s use up discord.py's five tries of one edit (discord/http.py
# ``HTTPClient.request``), so the adapter gets the 429 (``PlatformRateLimited``) and the
# scheduler sends the edit again, into two more.
STORM = 7


class StormyDiscord(RecordingDiscord):
    """Before each of the next ``storm`` message edits, another process with the bot's
    token uses up that channel's bucket (``exhaust_channel``): the fake must answer
    429, however well the bot paces itself."""

    def __init__(self, config: FakeConfig) -> None:
        super().__init__(config)
        self.storm = 0

    def app(self) -> web.Application:
        app = super().app()
        app.middlewares.insert(0, self._storm)
        return app

    @web.middleware
    async def _storm(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        info = request.match_info
        if self.storm > 0 and request.method == "PATCH" and "message_id" in info:
            self.storm -= 1
            self.exhaust_channel(int(info["channel_id"]))
        response: web.StreamResponse = await handler(request)
        return response


@pytest.fixture
async def stormy_rig(
    client: UpstreamClient, upstream_settings: UpstreamSettings
) -> AsyncIterator[Rig]:
    config = FakeConfig(
        message_bucket_limit=STORM_BUCKET.count, message_bucket_period=STORM_BUCKET.per_seconds
    )
    async with StormyDiscord(config) as fake:
        yield Rig(
            fake,
            MemoryStore(),
            client,
            upstream_settings,
            budget=BudgetPlan(channel=STORM_BUCKET, overall=Rate(50, 1.0)),
        )


async def test_a_429_storm_delays_the_edits_but_loses_none(
    stormy_rig: Rig, upstream: FakeUpstream
) -> None:
    rig = stormy_rig
    fake = rig.fake
    assert isinstance(fake, StormyDiscord)
    answer_with_gpt_4(rig)
    upstream.answer = Answer(tokens_per_s=20)
    async with rig.bot():
        fake.storm = STORM
        asked = await fake.dispatch_message(content="hello", mentions_bot=True)
        thread_id = await rig.thread_of(asked)
        [answer] = await rig.answered(thread_id, timeout=10.0)

    refused = fake.requests_to(EDIT, status=429)
    assert len(refused) == STORM
    assert fake.stats().rate_limited == {"user": STORM}
    assert {r.path.split("/")[4] for r in refused} == {str(thread_id)}
    assert answer.content == SEED_TEXT
    assert_grew_by_edits(answer)
    await assert_stored_complete(rig, answer)
    assert len(fake.requests_to(EDIT, status=200)) >= 2  # the text, then Regenerate


# -- 3. a gateway disconnect mid-answer: RESUME, and every event answered once ------------


async def chatter(rig: Rig) -> None:
    """Messages nobody answers. Put before a message a RESUME is to replay: should the
    bot lag a dispatch or two behind ``seen_since``, the replay starts in here (and not
    at READY)."""
    for n in range(3):
        await rig.fake.dispatch_message(rig.fake.channel("random").id, content=f"chatter {n}")


def seen_since(rig: Rig, message_id: int) -> int:
    """How many dispatches went to the bot since (and with) MESSAGE_CREATE ``message_id``:
    the ``duplicate`` that makes the next RESUME deliver that message again."""
    [session] = rig.fake.gateway.sessions.values()
    frame = next(
        f for f in session.buffer if f["t"] == "MESSAGE_CREATE" and f["d"]["id"] == str(message_id)
    )
    return session.seq - int(frame["s"]) + 1


@pytest.mark.parametrize("how", ["op 7 RECONNECT", "socket closed 4000"])
async def test_a_gateway_disconnect_mid_answer_resumes_and_the_answer_lands(
    rig: Rig, upstream: FakeUpstream, how: str
) -> None:
    fake = rig.fake
    answer_with_gpt_4(rig)
    upstream.answer = Answer(tokens_per_s=10)  # the 13 documented chunks over ~1.3 s
    dm = fake.open_dm("bob")
    async with rig.bot():
        await chatter(rig)
        asked = await fake.dispatch_message(content="hello", mentions_bot=True)
        thread_id = await rig.thread_of(asked)
        await fake.wait_for_message(thread_id, lambda m: m.content.startswith("Hi"))
        # Discord delivers at least once: the RESUME replays the mention too.
        again = seen_since(rig, asked)
        if how == "op 7 RECONNECT":
            await fake.force_reconnect(duplicate=again)
        else:
            await fake.drop_connection(4000, duplicate=again)
        await fake.dispatch_message(dm, content="are you there?")  # while it is away
        await fake.wait_for(lambda: fake.stats().counts.get("resumes"))
        [answer] = await rig.answered(thread_id)
        [reply] = await rig.answered(dm)

    counts = fake.stats().counts
    assert (counts["identifies"], counts["resumes"]) == (1, 1)  # resumed, not a new session
    assert counts["replayed_dispatches"] > again  # the duplicates and the DM
    assert answer.content == SEED_TEXT
    assert_grew_by_edits(answer)
    await assert_stored_complete(rig, answer)
    # The socket went away while the answer was still being written.
    events = fake.world.events
    gone = next(e["seq"] for e in events if e["kind"] == "gateway_disconnect")
    done = next(
        e["seq"]
        for e in events
        if e["kind"] == "message_update"
        and e["data"]["id"] == answer.id
        and e["data"]["content"] == SEED_TEXT
    )
    assert gone < done
    # Each question answered exactly once, the replayed mention included.
    assert reply.content == "You said: are you there?"
    assert len(rig.bot_messages(dm)) == 1
    assert len(rig.bot_messages(thread_id)) == 1
    assert rig.bot_messages(fake.channel().id) == []
    assert sorted(r["messages"][-1]["content"] for r in upstream.requests) == [
        "are you there?",
        "hello",
    ]


async def test_a_mention_the_resume_replays_is_not_answered_again_and_stop_still_works(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    general = fake.channel().id
    # Role chunk, "You", " said:", then the stream stalls until the answer is stopped.
    upstream.fail_next(Fault("stall", after_chunks=3, seconds=30))
    async with rig.bot():
        await chatter(rig)
        asked = await fake.dispatch_message(content="tell me a long story", mentions_bot=True)
        thread_id = await rig.thread_of(asked)
        streaming = await fake.wait_for_message(thread_id, lambda m: "said" in m.content)
        await fake.force_reconnect(duplicate=seen_since(rig, asked))
        await fake.wait_for(lambda: fake.stats().counts.get("resumes"))
        # The same channel's messages are taken in order: once this one is answered,
        # the replayed mention has been dealt with.
        await fake.dispatch_message(content="", mentions_bot=True)
        await fake.wait_for(lambda: rig.bot_messages(general) or None)
        await fake.click_button(streaming.id, button(streaming, STOP))
        [answer] = await rig.answered(thread_id)

    assert answer.content == f"You said:\n\n{wording.stopped_notice()}"
    assert [m.content for m in rig.bot_messages(general)] == [wording.empty_prompt()]
    assert len(upstream.requests) == 1
    # Nothing tried to open the mention's thread a second time.
    opened = fake.requests_to("POST /channels/{channel_id}/messages/{message_id}/threads")
    assert [r.status for r in opened] == [201]
