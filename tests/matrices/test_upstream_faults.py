"""Issue 9, matrix B: every upstream fault, end to end through a platform.

The documented error codes (../shared/seeds: 400 token_mismatched, 400
api_not_implemented, 401 invalid_token, 429 too_many_requests, 500 api_error), a
timeout at each phase (connect, first token, idle mid-stream), a connection
dropped mid-stream, a chunk that is not JSON, an error event mid-stream and a
stream that stops without ``[DONE]``. The fake upstream serves each fault; the
real DiscordBot (and, for two faults, the real SlackBot) shows it.

What every case checks:
- the thread shows the user-facing sentence, with the trace id when the API
  sent one, after the partial text, which is kept in the platform message and
  in the database (the answer turn ``failed``, never left ``streaming``);
- the retry policy, by counting requests on the fake upstream (or, for the
  connect timeout, the backoff sleeps on the fake clock): retried only before
  the first token, only retryable failures, at most ``ATTEMPTS`` tries.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from bot import wording
from bot.domain import Role, ThreadKey, TurnStatus
from bot.ports import ConversationStore
from bot.settings import UpstreamSettings
from bot.upstream import RetryPolicy, UpstreamClient
from tests.discord.harness import Rig
from tests.fakes.clock import FakeClock
from tests.fakes.slack import SlackFake
from tests.fakes.slack.fixtures import (  # noqa: F401 - fixtures used by name
    slack_fake_fixture,
    slack_fake_limits_fixture,
)
from tests.fakes.upstream import API_KEY, FakeUpstream, Fault
from tests.fakes.upstream.seeds import ERROR_TRACE_ID
from tests.matrices.rigs import (  # noqa: F401 - fixtures used by name
    MakeSlackBot,
    drig_fixture,
    slack_bot_fixture,
    turns_of,
)
from tests.slack.conftest import GENERAL, TEAM, bot_messages, shown

ATTEMPTS = 3  # the root conftest's RetryPolicy(attempts=3)
PROMPT = "tell me a story"
ANSWER = f"You said: {PROMPT}"  # the fake echoes: "You", " said:", " tell", …
# Events: the role-only chunk, then "You", " said:" — a fault after 3 events comes
# after the first token, with this much shown.
PARTIAL = "You said:"
TIMEOUT = 1.0  # idle mid-stream: a case stalled after the first token waits this long
# The first token's one deadline, over every try and backoff (issue 22, 8): room for
# ATTEMPTS tries of a fast failure and their backoffs (at most 0.5 + 1.0 s), and all a
# stalled case waits before its sentence.
FIRST_TOKEN = 2.0


@pytest.fixture
def upstream_settings(upstream: FakeUpstream) -> UpstreamSettings:
    return UpstreamSettings(
        base_url=upstream.base_url,
        api_key=SecretStr(API_KEY),
        timeout_connect=2.0,
        timeout_first_token=FIRST_TOKEN,
        timeout_idle=TIMEOUT,
    )


def sentence(code: str, trace_id: str | None = None) -> str:
    """What the thread says for an upstream error code (bot/wording/upstream.py)."""
    return "⚠️ " + wording.upstream_error("", code, trace_id)


@dataclass(frozen=True)
class Case:
    id: str
    faults: tuple[Fault, ...]  # served to consecutive requests
    requests: int  # how many the fake upstream gets
    code: str | None  # the sentence's error code; None: answered after retries
    partial: str = ""  # kept before the sentence
    traced: bool = False  # the API sent a trace id

    @property
    def shown(self) -> str:
        if self.code is None:
            return ANSWER
        end = sentence(self.code, ERROR_TRACE_ID if self.traced else None)
        return f"{self.partial}\n\n{end}" if self.partial else end


def error(code: str, times: int = 1, **fields: float) -> tuple[Fault, ...]:
    return (Fault("error", code=code, **fields),) * times  # type: ignore[arg-type]


MORE = ATTEMPTS + 2  # faults queued beyond the policy's bound: the bound stops the tries

CASES = [
    # Documented errors (seeds: 400/401 are final, 429 and 500 are retried).
    Case("400-token_mismatched", error("token_mismatched", MORE), 1, "token_mismatched", traced=True),
    Case("400-api_not_implemented", error("api_not_implemented", MORE), 1, "api_not_implemented", traced=True),
    Case("401-invalid_token", error("invalid_token", MORE), 1, "invalid_token", traced=True),
    Case("429-too_many_requests", error("too_many_requests", MORE), ATTEMPTS, "too_many_requests", traced=True),
    Case("429-then-answered", error("too_many_requests", retry_after=1.5), 2, None),
    Case("500-api_error", error("api_error", MORE), ATTEMPTS, "api_error", traced=True),
    Case("500-then-answered", error("api_error"), 2, None),
    # Timeouts: the first token has one deadline over every try (issue 22, 8). A stall
    # ends the first try at the idle timeout (1 s), the second at the deadline (2 s): two
    # tries, not ATTEMPTS. After the first token a timeout ends the answer.
    Case("first-token-timeout", (Fault("stall", after_chunks=1),) * MORE, 2, "timeout"),
    Case("first-token-timeout-then-answered", (Fault("stall", after_chunks=1),), 2, None),
    Case("idle-timeout-mid-stream", (Fault("stall", after_chunks=3),) * MORE, 1, "truncated", PARTIAL),
    # The connection dropped.
    Case("drop-before-first-token", (Fault("disconnect"),), 2, None),
    Case("drop-mid-stream", (Fault("disconnect", after_chunks=3),) * MORE, 1, "truncated", PARTIAL),
    # What the stream says is broken: never retried.
    Case("malformed-first-chunk", (Fault("malformed"),) * MORE, 1, "bad_response"),
    Case("malformed-mid-stream", (Fault("malformed", after_chunks=3),) * MORE, 1, "bad_response", PARTIAL),
    Case("error-event-mid-stream", (Fault("error_event", after_chunks=3),) * MORE, 1, "api_error", PARTIAL, traced=True),
    # Every token, then the stream ends with neither a finish reason nor [DONE].
    Case("no-done", (Fault("no_done", after_chunks=7),) * MORE, 1, "truncated", ANSWER),
]  # fmt: skip


def serve(upstream: FakeUpstream, case: Case) -> None:
    for fault in case.faults:
        upstream.fail_next(fault)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_discord_shows_each_upstream_fault(
    drig: Rig, upstream: FakeUpstream, clock: FakeClock, case: Case
) -> None:
    fake = drig.fake
    serve(upstream, case)
    async with drig.bot():
        asked = await fake.dispatch_message(content=PROMPT, mentions_bot=True)
        thread = await drig.thread_of(asked)
        [answer] = await drig.answered(thread)

    assert answer.content == case.shown
    assert upstream.stats.requests == case.requests
    assert len(clock.sleeps) == case.requests - 1  # one backoff before each retry
    if case.id == "429-then-answered":
        assert clock.sleeps[0] >= 1.5  # Retry-After honoured
    stored = await drig.store.find_by_message("discord", str(answer.id))
    assert stored is not None
    turn = stored.turn
    assert turn.role is Role.ASSISTANT
    if case.code is None:
        assert (turn.status, turn.text) == (TurnStatus.COMPLETE, ANSWER)
    else:
        assert (turn.status, turn.text) == (TurnStatus.FAILED, case.partial)
        assert turn.trace_id == (ERROR_TRACE_ID if case.traced else None)
    # One question stored, and no answer left half-written.
    assert [t.text for t in await turns_of(drig.store, stored.key) if t.role is Role.USER] == [
        PROMPT
    ]
    assert await drig.store.interrupt_streaming() == []


@pytest.fixture
def unreachable() -> Iterator[str]:
    """A base URL whose connections never complete: a listening socket that never
    accepts, its accept queue filled, so the kernel drops further SYNs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield f"http://127.0.0.1:{port}/v1"
    for sock in [*fillers, server]:
        sock.close()


async def test_discord_shows_a_connect_timeout_after_bounded_retries(
    drig: Rig, upstream_settings: UpstreamSettings, clock: FakeClock, unreachable: str
) -> None:
    settings = upstream_settings.model_copy(
        # A first-token deadline long enough that the attempts, not it, bound the tries.
        update={"base_url": unreachable, "timeout_connect": 0.2, "timeout_first_token": 10.0}
    )
    policy = RetryPolicy(attempts=ATTEMPTS, base_delay=0.5, max_seconds=30.0)
    async with UpstreamClient(settings, clock=clock, policy=policy) as blocked:
        drig.client, drig.upstream_settings = blocked, settings
        async with drig.bot():
            asked = await drig.fake.dispatch_message(content=PROMPT, mentions_bot=True)
            [answer] = await drig.answered(await drig.thread_of(asked), timeout=10)

    assert answer.content == sentence("timeout")
    assert len(clock.sleeps) == ATTEMPTS - 1  # tried ATTEMPTS times, then told
    stored = await drig.store.find_by_message("discord", str(answer.id))
    assert stored is not None
    assert (stored.turn.status, stored.turn.text) == (TurnStatus.FAILED, "")


SLACK_CASES = [c for c in CASES if c.id in ("500-api_error", "drop-mid-stream")]


@pytest.mark.parametrize("case", SLACK_CASES, ids=[c.id for c in SLACK_CASES])
async def test_slack_shows_upstream_faults_in_the_thread(
    slack_fake: SlackFake,
    slack_bot: tuple[MakeSlackBot, ConversationStore],
    upstream: FakeUpstream,
    case: Case,
) -> None:
    make, store = slack_bot
    bot = await make()
    serve(upstream, case)
    mention = slack_fake.payloads.app_mention(PROMPT)
    await slack_fake.send_event(mention)
    await slack_fake.wait_for(
        lambda: shown(slack_fake, GENERAL, mention["ts"]).endswith(case.shown[-20:]),
        what="the error sentence",
    )
    await bot.idle()

    text = shown(slack_fake, GENERAL, mention["ts"])
    assert text.startswith(case.partial)
    assert text.endswith(case.shown.removeprefix(case.partial).strip())
    assert upstream.stats.requests == case.requests
    [answer] = bot_messages(slack_fake, GENERAL, mention["ts"])
    stored = await store.find_by_message("slack", f"{GENERAL}:{answer.ts}")
    assert stored is not None
    assert stored.key == ThreadKey("slack", TEAM, GENERAL, mention["ts"])
    assert (stored.turn.status, stored.turn.text) == (TurnStatus.FAILED, case.partial)
    assert await store.interrupt_streaming() == []
