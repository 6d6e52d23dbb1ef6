"""Platform faults mid-answer: whatever the platform does, the final text lands in full.

Already covered elsewhere, so not repeated here: a per-route 429 storm on one
short Discord answer and a RESUME after op 7 / close 4000
(tests/discord/test_done_means.py); 429 storms on chat.appendStream and on
chat.update (tests/slack/test_rate_limit_storms.py). This matrix covers the gaps:

Discord (the real ``DiscordBot``, in process):
- a per-route storm on an answer that runs to several messages;
- a global storm (``"global": true``: every route waits, not one channel);
- a socket dropped mid-answer and RESUMEd while a storm is on.
(op 9 INVALID_SESSION is left out: discord.py waits 5 s before it identifies
again, ``Client.before_identify_hook``, and the answer meanwhile goes on over
REST as in the RESUME case.)

Slack (the real ``SlackBot``, Socket Mode):
- storms on the calls the other tests leave out: chat.stopStream (the last call
  of an answer), chat.startStream of a rolled-over stream, chat.postMessage of
  the message a long chat.update answer continues in;
- the Socket Mode connection refreshed (``disconnect``) and dropped outright
  mid-answer, with a question sent while the bot reconnects (answered once).

Each case checks the fault did happen while the answer was being written, and
that the answer then shows (and the store holds) exactly the model's text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.domain import TurnStatus
from bot.settings import UpstreamSettings
from bot.streaming import BudgetPlan, Rate
from bot.upstream import UpstreamClient
from storage import MemoryStore
from tests.discord.harness import REGENERATE, RecordingDiscord, Rig, has_button
from tests.fakes.clock import StillClock
from tests.fakes.discord import FakeConfig
from tests.fakes.slack import RateLimit, SlackFake, SlackLimits
from tests.fakes.upstream import Answer, FakeUpstream
from tests.slack.conftest import (  # noqa: F401 - fixtures used by name
    GENERAL,
    MakeBot,
    bot_messages,
    make_bot,
    service,
    shown,
    store,
    wait_shown,
)

# -- Discord ------------------------------------------------------------------------

# Short windows, so a storm's waits are short; the bot's scheduler gets the same
# budget, so every 429 below is the storm's.
BUCKET = Rate(5, 0.1)
QUICK_DISCORD = FakeConfig(
    message_bucket_limit=BUCKET.count, message_bucket_period=BUCKET.per_seconds, global_period=0.1
)
# discord.py tries an edit five times on 429 (discord/http.py ``HTTPClient.request``);
# seven refusals in a row also take the adapter's and the scheduler's retry.
STORM = 7
# ~2,900 characters: two Discord messages, streamed over ~1.5 s.
LONG = "\n\n".join(f"Paragraph {n}: " + "lorem ipsum dolor sit amet " * 20 for n in range(5))


@dataclass(frozen=True)
class DiscordFault:
    storm: int = 0
    scope: str = "user"  # "user" (the channel's bucket) or "global"
    gateway: str | None = None  # "drop 4000"


DISCORD_FAULTS = {
    "429 per route, several messages": DiscordFault(storm=STORM),
    "429 global": DiscordFault(storm=STORM, scope="global"),
    "RESUME during a 429 storm": DiscordFault(storm=STORM, gateway="drop 4000"),
}


@pytest.fixture
async def quick_rig(
    client: UpstreamClient, upstream_settings: UpstreamSettings
) -> AsyncIterator[Rig]:
    async with RecordingDiscord(QUICK_DISCORD) as fake:
        budget = BudgetPlan(channel=BUCKET, overall=Rate(50, 1.0))
        yield Rig(fake, MemoryStore(), client, upstream_settings, budget=budget)


@pytest.mark.parametrize("fault", list(DISCORD_FAULTS.values()), ids=list(DISCORD_FAULTS))
async def test_a_discord_answer_lands_in_full_through(
    quick_rig: Rig, upstream: FakeUpstream, fault: DiscordFault
) -> None:
    rig, fake = quick_rig, quick_rig.fake
    upstream.answer = Answer(text=LONG, tokens_per_s=300)
    async with rig.bot():
        asked = await fake.dispatch_message(content="write a lot", mentions_bot=True)
        thread = await rig.thread_of(asked)
        await fake.wait_for_message(thread, lambda m: "Paragraph 0" in m.content, timeout=10)
        if fault.storm:
            fake.storm_edits(fault.storm, "global" if fault.scope == "global" else "user")
        if fault.gateway == "drop 4000":
            await fake.drop_connection(4000)
            await fake.wait_for(lambda: fake.stats().counts.get("resumes"), 10)
        # The fault came while the answer was still being written.
        assert not any(has_button(m, REGENERATE) for m in rig.bot_messages(thread))
        messages = await rig.answered(thread, timeout=20)

    assert " ".join(m.content for m in messages).split() == LONG.split()
    assert len(messages) >= 2
    assert all("⏳" not in m.content and len(m.content) <= 2000 for m in messages)
    assert has_button(messages[-1], REGENERATE)
    stored = await rig.store.find_by_message("discord", str(messages[0].id))
    assert stored is not None
    assert (stored.turn.status, stored.turn.text) == (TurnStatus.COMPLETE, LONG)
    # Every storm edit was refused; a used-up window may refuse the next request too
    # (the post of the next message shares the channel's bucket).
    refused = fake.stats().rate_limited
    assert fake.edge.storm_left == 0
    assert set(refused) == ({fault.scope} if fault.storm else set())
    assert refused.get(fault.scope, 0) >= fault.storm
    counts = fake.stats().counts
    if fault.gateway == "drop 4000":
        assert (counts["identifies"], counts["resumes"]) == (1, 1)


# -- Slack --------------------------------------------------------------------------

WORDS = " ".join(f"w{n}" for n in range(60))
SLACK_STORM = 3  # 429s in a row (Retry-After: 1 s each); native streaming gives up after 5


@dataclass(frozen=True)
class SlackFault:
    method: str | None = None  # the method whose budget runs dry: a storm
    at_start: bool = False  # dry from the start, else from the answer's first words
    storm: int = SLACK_STORM  # 429s in a row the answer meets
    socket: str | None = None  # "refresh" (disconnect message) or "drop"
    native: bool = True
    text: str = WORDS
    rollover: float = 60.0  # the bot's stream_rollover_seconds


SLACK_FAULTS = {
    "429 chat.stopStream": SlackFault(method="chat.stopStream", at_start=True),
    # A stream that cannot open is not retried: the answer goes on by chat.postMessage
    # and chat.update at once (adapters/slack/native.py ``_send``).
    "429 chat.startStream of a rollover": SlackFault(
        method="chat.startStream", rollover=0.2, storm=1
    ),
    "429 chat.postMessage of a continuation": SlackFault(
        method="chat.postMessage", native=False, text=" ".join(f"w{n}" for n in range(1_000))
    ),
    "Socket Mode refresh": SlackFault(socket="refresh"),
    "Socket Mode dropped": SlackFault(socket="drop"),
    "Socket Mode refresh, chat.update": SlackFault(socket="refresh", native=False),
}


@pytest.fixture
async def slack_fake(
    still_clock: StillClock, request: pytest.FixtureRequest
) -> AsyncIterator[SlackFake]:
    """A storm's fake keeps still: a budget used up stays used up until the test moves on."""
    fault: SlackFault = request.param
    limits = SlackLimits.fast(stream_max_age=300.0)
    if fault.method is not None:
        # One call a second (Retry-After: 1) once the budget is back.
        limits = limits.with_method_limit(fault.method, RateLimit(burst=5, interval=1.0))
        async with SlackFake(limits=limits, clock=still_clock) as fake:
            yield fake
    else:
        async with SlackFake(limits=limits) as fake:
            yield fake


@pytest.mark.parametrize(
    ("slack_fake", "fault"),
    [(fault, fault) for fault in SLACK_FAULTS.values()],
    ids=list(SLACK_FAULTS),
    indirect=["slack_fake"],
)
async def test_a_slack_answer_lands_in_full_through(
    slack_fake: SlackFake,
    still_clock: StillClock,
    make_bot: MakeBot,  # noqa: F811 - the fixture imported above
    upstream: FakeUpstream,
    fault: SlackFault,
) -> None:
    fake = slack_fake
    bot = await make_bot(native_streaming=fault.native, stream_rollover_seconds=fault.rollover)
    upstream.answer = Answer(text=fault.text, tokens_per_s=60 if len(fault.text) < 1000 else 2000)
    if fault.method is not None and fault.at_start:
        fake.exhaust(fault.method, GENERAL)
    mention = fake.payloads.app_mention("through the fault")
    await fake.send_event(mention)
    await fake.wait_for(lambda: shown(fake, GENERAL, mention["ts"]), 10, "the first words")
    later = fake.payloads.app_mention("are you still there?")
    if fault.method is not None:
        fake.exhaust(fault.method, GENERAL)
        await fake.wait_for(
            lambda: fake.rate_limited[fault.method or ""] >= fault.storm, 20, "the storm"
        )
        still_clock.now += 60.0  # the storm passes: the buckets refill
    else:
        opened = fake.socket.connections_opened
        if fault.socket == "refresh":
            await fake.disconnect_socket("refresh_requested")
        else:
            await fake.drop_socket()
        # Asked while the bot reconnects: delivered on the new connection.
        delivery = await fake.send_event(later)
        assert shown(fake, GENERAL, mention["ts"]) != fault.text  # still being written
        await fake.wait_for(lambda: fake.socket.connections_opened > opened, 10, "a new socket")
        try:
            await wait_shown(fake, GENERAL, later["ts"], fault.text, 30)
        except TimeoutError as timeout:
            what = (fake.deliveries[delivery].summary(), bot_messages(fake, GENERAL, later["ts"]))
            raise AssertionError(f"the question asked meanwhile: {what}") from timeout
    await wait_shown(fake, GENERAL, mention["ts"], fault.text, timeout=30)
    await bot.idle()

    messages = bot_messages(fake, GENERAL, mention["ts"])
    assert all(m.stream_state != "streaming" for m in messages)
    if fault.method is not None:
        statuses = [r.status for r in fake.log.calls(fault.method)]
        assert _longest_run(statuses, 429) >= fault.storm
    if fault.method in ("chat.stopStream", "chat.postMessage"):
        assert statuses[-1] == 200
    if fault.method in ("chat.startStream", "chat.postMessage"):
        assert len(messages) >= 2  # the storm met the message the answer continued in
    if fault.method == "chat.startStream":
        assert fake.log.calls("chat.update")  # it went on by post and edits
    if fault.socket is not None:
        assert len(bot_messages(fake, GENERAL, later["ts"])) == 1  # answered once
        assert len(upstream.requests) == 2


def _longest_run(statuses: list[int], status: int) -> int:
    longest = run = 0
    for each in statuses:
        run = run + 1 if each == status else 0
        longest = max(longest, run)
    return longest
