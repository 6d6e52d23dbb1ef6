"""Crash matrix: a real ``threadline run`` killed with SIGKILL at seeded random moments.

Two chains run side by side, one on the loopback Discord and one on the loopback
Slack, each with one database reused across its restarts:

    start → (the last kill's answer is finished on the platform) → a question →
    wait a random moment → SIGKILL → check the file → start again → …

After every kill, with the process dead:

- ``PRAGMA integrity_check`` is ``ok``;
- the question is stored if the platform saw the bot react to it (a typing
  indicator, a post or an edit in its thread: the service stores the question
  before it sends anything anywhere); every earlier question is still there;
- the stored answer text is a prefix of what the model had sent (the relay's
  log, ``relay.py``), and holds everything sent up to one flush interval (plus
  a scheduling allowance) before the kill.

After every restart, an answer the kill cut is finished on the platform: its
message keeps the stored text and ends with the interrupted notice, and on
Discord carries the Regenerate button for that answer. A question the kill
left stored but unanswered (its answer had not begun) is answered in full.

The moments come from ``random.Random(SEED)``: a failure names its chain, kill
number and moment, and reproduces with the same seed. The figures (where the
kills landed, the most text lost) are printed: ``pytest -s``.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot import wording
from bot.domain import Role, ThreadKey, Turn, TurnStatus
from bot.settings import UpstreamSettings
from bot.upstream import UpstreamClient
from storage import MemoryStore
from tests.discord.harness import FAST_DISCORD, RecordingDiscord, Rig, eventually
from tests.fakes.discord import FakeConfig, FakeDiscord
from tests.fakes.discord.model import Message
from tests.fakes.slack import RateLimit, SlackFake, SlackLimits
from tests.fakes.slack.state import MessageView
from tests.fakes.upstream import API_KEY, Answer, FakeUpstream, Fault
from tests.matrices.relay import Relay, RelayedStream
from tests.test_run import base_env, start_run

SEED = 20261122
KILLS = 100  # across both chains
FLUSH = 0.1  # STORAGE__FLUSH_INTERVAL, seconds
# A stored answer may lag the model by one flush interval plus the client's read
# interval (tokens of a slow stream gather in the socket for up to 0.25 s); the kill
# and the last flush are seen from two processes on a shared machine, so the bound
# allows scheduling delay on top (the figures report the real lag).
READ_INTERVAL = 0.25
ALLOWANCE = 0.4 + READ_INTERVAL
THINKING = 0.25  # seconds before the first token: a kill may land while the model thinks
TOKENS_PER_S = 100.0
WORDS = 60  # an answer: "You said: " and these words, ~0.8 s of tokens
# A kill lands within this long after the question: before the answer, mid-stream,
# or once it is done (between turns).
HORIZON = 1.2
# One person asks a question every second or so: the per-minute limits would
# refuse most of them, and a refused question is not what the kills are about.
NO_QUOTAS = {"QUOTA__USER_PER_MINUTE": "0", "QUOTA__CHANNEL_PER_MINUTE": "0"}
REGENERATE = "threadline:regenerate:"
NOTICE = wording.interrupted_notice()
MARKER = wording.IN_PROGRESS_MARKER.strip()
SLACK_CHANNEL = "C0GENERAL1"


def finished_text(stored: str) -> str:
    """What recovery shows: the stored text, then the notice (``StreamedReply.finish``)."""
    return f"{stored}\n\n{NOTICE}" if stored.strip() else NOTICE


@dataclass(frozen=True)
class Stored:
    """The question and its answer as the file holds them after a kill."""

    question: bool
    answer_id: int | None = None
    text: str = ""
    status: str = ""
    reply_ids: tuple[str, ...] = ()


def read_file(path: Path, platform: str, message_id: str, earlier: list[str]) -> Stored:
    """Check the file a kill left and read one question's answer from it."""
    db = sqlite3.connect(path)
    try:
        [(verdict,)] = db.execute("PRAGMA integrity_check").fetchall()
        assert verdict == "ok", verdict
        ids = {row[0] for row in db.execute("SELECT platform_message_id FROM turns")}
        assert not set(earlier) - ids, f"stored questions lost: {set(earlier) - ids}"
        question = db.execute(
            "SELECT id FROM turns WHERE platform = ? AND platform_message_id = ?",
            (platform, message_id),
        ).fetchone()
        if question is None:
            return Stored(False)
        answer = db.execute(
            "SELECT id, text, status, reply_ids FROM turns WHERE reply_to = ? AND role = ?",
            (question[0], "assistant"),
        ).fetchone()
    finally:
        db.close()
    if answer is None:
        return Stored(True)
    reply_ids = tuple(json.loads(answer[3])) if answer[3] else ()
    return Stored(True, answer[0], answer[1], answer[2], reply_ids)


@dataclass
class Figures:
    """Where the kills of one chain landed, and how much text they cost."""

    chain: str
    landed: Counter[str] = field(default_factory=Counter)
    lost_chars: int = 0
    lag: float = 0.0  # the longest stretch of relayed text a kill lost, seconds

    def line(self) -> str:
        where = ", ".join(f"{count} {place}" for place, count in sorted(self.landed.items()))
        return (
            f"{self.chain}: {sum(self.landed.values())} kills ({where}); integrity ok; "
            f"most text lost {self.lost_chars} chars = {self.lag * 1000:.0f} ms of answer "
            f"(flush interval {FLUSH * 1000:.0f} ms)"
        )


@dataclass
class Kill:
    """One kill: which, when (loop time), and the relayed answer, if it started."""

    number: int
    moment: float
    at: float
    stream: RelayedStream | None

    def where(self) -> str:
        return f"kill {self.number} ({self.moment:.3f} s after the question)"


def check_text(kill: Kill, stored: Stored, figures: Figures) -> None:
    """The stored answer is a prefix of what was sent, short by at most a flush interval."""
    sent = kill.stream.text_by(kill.at) if kill.stream is not None else ""
    assert sent.startswith(stored.text), f"{kill.where()}: stored {stored.text!r}, sent {sent!r}"
    if stored.status == "complete":
        assert stored.text == sent, kill.where()
    safe = kill.stream.text_by(kill.at - FLUSH - ALLOWANCE) if kill.stream else ""
    assert stored.text.startswith(safe), (
        f"{kill.where()}: stored {len(stored.text)} chars, but {len(safe)} had been sent "
        f"{FLUSH + ALLOWANCE:.2f} s before the kill"
    )
    lost = len(sent) - len(stored.text)
    if lost and kill.stream is not None:
        first_lost = kill.stream.moment_of(len(stored.text) + 1)
        if first_lost is not None:
            figures.lag = max(figures.lag, kill.at - first_lost)
    figures.lost_chars = max(figures.lost_chars, lost)


def landed(kill: Kill, stored: Stored) -> str:
    if not stored.question:
        return "before the question was stored"
    if stored.answer_id is None:
        return "before the answer began"
    if stored.status != "streaming":
        return "between turns"
    sent = kill.stream.text_by(kill.at) if kill.stream is not None else ""
    return "mid-stream" if sent else "while the model thought"


async def kill_at_random(
    process: asyncio.subprocess.Process,
    rng: random.Random,
    relay: Relay,
    prompt: str,
    number: int,
) -> Kill:
    moment = rng.uniform(0, HORIZON)
    await asyncio.sleep(moment)
    at = asyncio.get_running_loop().time()
    process.kill()  # SIGKILL: nothing of the process runs after this
    await process.wait()
    return Kill(number, moment, at, relay.stream_for(prompt))


def prompt_for(chain: str, number: int) -> str:
    return " ".join(f"{chain}{number}w{n}" for n in range(WORDS))


async def stopped(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()


# -- Discord ------------------------------------------------------------------------


THREADS = 3  # questions rotate over threads, so no channel's message bucket runs dry


class DiscordChain:
    def __init__(self, fake: FakeDiscord, env: dict[str, str], path: Path) -> None:
        self.fake = fake
        self.env = env
        self.path = path
        self.starts = 0
        self.threads: list[int] = []
        self.asked: list[str] = []  # questions the file must keep

    async def start(self) -> asyncio.subprocess.Process:
        process = await start_run(self.env)
        self.starts += 1
        await self.fake.wait_for(self._synced, 30)
        return process

    def _synced(self) -> bool:
        counts = self.fake.stats().counts
        return min(counts.get("identifies", 0), counts.get("command_syncs", 0)) >= self.starts

    def bot_messages(self, channel_id: int, after: int) -> list[Message]:
        return [
            m
            for m in self.fake.messages(channel_id)
            if m.author.id == self.fake.bot.id and m.id > after
        ]

    async def open_threads(self) -> None:
        for n in range(THREADS):
            asked = await self.fake.dispatch_message(content=f"thread {n}", mentions_bot=True)
            await self.fake.wait_for(self._answered(asked), 30)
            self.threads.append(asked)
            self.asked.append(str(asked))

    def _answered(self, thread: int) -> Callable[[], bool]:
        return lambda: any(_has_regenerate(m) for m in self.bot_messages(thread, thread))

    def reacted(self, thread: int, asked: int, since: float) -> bool:
        """Did the bot do anything in the thread since the question (typing, post, edit)?"""
        return any(
            r.at >= since and f"/channels/{thread}/" in r.path for r in self.fake.requests
        ) or bool(self.bot_messages(thread, asked))

    async def finished(
        self, thread: int, asked: int, full: str, stored: Stored, kill: Kill
    ) -> None:
        """After the restart: the cut answer's messages are finished (or it was never
        shown); a question whose answer had not begun is answered."""
        if stored.question and stored.answer_id is None:

            def answered() -> bool:
                return any(
                    m.content == full and _has_regenerate(m)
                    for m in self.bot_messages(thread, asked)
                )

            await self.fake.wait_for(answered, 30)
        posted = self.bot_messages(thread, asked)
        if stored.status == "streaming":
            assert stored.reply_ids or not posted, (
                f"{kill.where()}: the answer's messages {[m.id for m in posted]} were "
                "shown but not recorded: nothing can finish them"
            )
            if not stored.reply_ids:
                return
            last = int(stored.reply_ids[-1])

            def done() -> Message | None:
                message = self.fake.message(last)
                return (
                    message
                    if message.content.endswith(NOTICE) and _has_regenerate(message)
                    else None
                )

            message = await self.fake.wait_for(done, 30)
            whole = "".join(self.fake.message(int(i)).content for i in stored.reply_ids)
            assert whole.replace("\n", "") == finished_text(stored.text).replace("\n", ""), (
                kill.where()
            )
            assert [b.custom_id for b in message.buttons] == [f"{REGENERATE}{stored.answer_id}"]
        for message in posted:
            assert not message.content.endswith(MARKER), f"{kill.where()}: {message.content!r}"


def _has_regenerate(message: Message) -> bool:
    return any((b.custom_id or "").startswith(REGENERATE) for b in message.buttons)


async def discord_chain(
    upstream: FakeUpstream, tmp_path: Path, rng: random.Random, kills: int
) -> Figures:
    figures = Figures("discord")
    # The message bucket refills every 0.5 s (Discord's observed window is 5 s): a new
    # process cannot know the last one's spending, and waiting out 5 s windows after
    # each restart would make the matrix slow, not stronger.
    config = FakeConfig(message_bucket_limit=5, message_bucket_period=0.5)
    async with FakeDiscord(config) as fake, Relay(_origin(upstream)) as relay:
        path = tmp_path / "discord.db"
        env = base_env(upstream, tmp_path) | {
            "OPENAI_BASE_URL": relay.base_url + upstream.prefix,
            "STORAGE__PATH": str(path),
            "STORAGE__FLUSH_INTERVAL": str(FLUSH),
            **NO_QUOTAS,
            "DISCORD_TOKEN": fake.token,
            "DISCORD__API_BASE": fake.api_base,
            "DISCORD__GATEWAY_URL": fake.gateway_url,
        }
        chain = DiscordChain(fake, env, path)
        process = await chain.start()
        await chain.open_threads()
        for number in range(kills):
            thread = chain.threads[number % THREADS]
            prompt = prompt_for("d", number)
            since = asyncio.get_running_loop().time()
            asked = await fake.dispatch_message(thread, content=prompt)
            kill = await kill_at_random(process, rng, relay, prompt, number)
            stored = read_file(path, "discord", str(asked), chain.asked)
            if chain.reacted(thread, asked, since):
                assert stored.question, f"{kill.where()}: the bot reacted, the question is gone"
            if stored.question:
                chain.asked.append(str(asked))
            check_text(kill, stored, figures)
            figures.landed[landed(kill, stored)] += 1
            process = await chain.start()
            await chain.finished(thread, asked, f"You said: {prompt}", stored, kill)
        await stopped(process)
    return figures


def _origin(upstream: FakeUpstream) -> str:
    return f"http://{upstream.host}:{upstream.port}"


# -- Slack ------------------------------------------------------------------------


# Slack's stream methods are Tier 2 (20 a minute) and apps.connections.open Tier 1;
# the matrix starts a stream and a connection or two a second, so they get room
# here (rate-limit storms are test_platform_faults.py's).
ROOMY = RateLimit(burst=100, interval=0.01)
SLACK_LIMITS = (
    SlackLimits.fast(stream_max_age=300.0)
    .with_method_limit("chat.startStream", ROOMY)
    .with_method_limit("chat.appendStream", ROOMY)
    .with_method_limit("chat.stopStream", ROOMY)
    .with_method_limit("chat.update", ROOMY)
    .with_method_limit("apps.connections.open", ROOMY)
)


class SlackChain:
    def __init__(self, fake: SlackFake, env: dict[str, str]) -> None:
        self.fake = fake
        self.env = env
        self.starts = 0
        self.asked: list[str] = []

    async def start(self) -> asyncio.subprocess.Process:
        process = await start_run(self.env)
        self.starts += 1
        socket = self.fake.socket
        await self.fake.wait_for(
            lambda: socket.connections and socket.connections_opened >= self.starts, 30, "socket"
        )
        return process

    def bot_messages(self, thread_ts: str) -> list[MessageView]:
        return [
            m
            for m in self.fake.messages(SLACK_CHANNEL, thread_ts)
            if m.bot_id is not None and m.ts != thread_ts
        ]

    def reacted(self, thread_ts: str, since: float, until: float) -> bool:
        """Did the bot do anything in the question's thread before the kill?"""
        return any(
            since <= r.at <= until and r.args.get("thread_ts") == thread_ts
            for r in self.fake.requests
        ) or bool(self.bot_messages(thread_ts))

    async def finished(self, thread_ts: str, full: str, stored: Stored, kill: Kill) -> None:
        if stored.question and stored.answer_id is None:  # the restart answers it
            await self.fake.wait_for(
                lambda: any(
                    m.body == full and m.stream_state != "streaming"
                    for m in self.bot_messages(thread_ts)
                ),
                30,
                f"{kill.where()}: the waiting question answered",
            )
        posted = self.bot_messages(thread_ts)
        if stored.status == "streaming":
            assert stored.reply_ids or not posted, (
                f"{kill.where()}: the answer's messages {[m.ts for m in posted]} were "
                "shown but not recorded: nothing can finish them"
            )
            if not stored.reply_ids:
                return
            last = stored.reply_ids[-1].rpartition(":")[2]

            def done() -> MessageView | None:
                found = [m for m in self.bot_messages(thread_ts) if m.ts == last]
                return found[0] if found and found[0].body.endswith(NOTICE) else None

            await self.fake.wait_for(lambda: done() is not None, 30, f"{kill.where()} finished")
            message = done()
            assert message is not None
            assert message.stream_state != "streaming", kill.where()
            shown = message.body.removesuffix(NOTICE).rstrip("\n")
            assert full.startswith(shown), f"{kill.where()}: {message.body!r}"
        for message in self.bot_messages(thread_ts):
            assert message.stream_state != "streaming", f"{kill.where()}: {message.body!r}"


async def slack_chain(
    upstream: FakeUpstream, tmp_path: Path, rng: random.Random, kills: int
) -> Figures:
    figures = Figures("slack")
    async with SlackFake(limits=SLACK_LIMITS) as fake, Relay(_origin(upstream)) as relay:
        path = tmp_path / "slack.db"
        env = base_env(upstream, tmp_path) | {
            "OPENAI_BASE_URL": relay.base_url + upstream.prefix,
            "STORAGE__PATH": str(path),
            "STORAGE__FLUSH_INTERVAL": str(FLUSH),
            **NO_QUOTAS,
            "SLACK_BOT_TOKEN": fake.bot_token,
            "SLACK_APP_TOKEN": fake.app_token,
            "SLACK__API_URL": fake.base_url,
            "SLACK__STREAM_APPEND_INTERVAL": "0.1",
            "SLACK__STREAM_APPENDS_PER_MINUTE": "6000",
        }
        chain = SlackChain(fake, env)
        process = await chain.start()
        for number in range(kills):
            prompt = prompt_for("s", number)
            mention = fake.payloads.app_mention(prompt)
            ts = str(mention["ts"])
            since = asyncio.get_running_loop().time()
            # No redelivery: an event the kill left unacknowledged would be answered
            # in a later round, and blur which kill cut what.
            await fake.send_event(mention, retries=False)
            kill = await kill_at_random(process, rng, relay, prompt, number)
            stored = read_file(path, "slack", f"{SLACK_CHANNEL}:{ts}", chain.asked)
            if chain.reacted(ts, since, kill.at):
                assert stored.question, f"{kill.where()}: the bot reacted, the question is gone"
            if stored.question:
                chain.asked.append(f"{SLACK_CHANNEL}:{ts}")
            check_text(kill, stored, figures)
            figures.landed[landed(kill, stored)] += 1
            process = await chain.start()
            await chain.finished(ts, f"You said: {prompt}", stored, kill)
        await stopped(process)
    return figures


# -- the matrix ---------------------------------------------------------------------


@pytest.mark.timeout(300)  # two chains of 50 restarts: ~70 s, more on a busy machine
async def test_sigkill_at_random_moments_loses_at_most_a_flush_interval(
    upstream: FakeUpstream,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    # "You said: <the question>", after the model thinks for a moment.
    upstream.answer = Answer(tokens_per_s=TOKENS_PER_S, first_token_delay=THINKING)
    # One seeded generator per chain: each chain's moments do not depend on the other's pace.
    discord, slack = random.Random(SEED), random.Random(SEED + 1)
    figures = await asyncio.gather(
        discord_chain(upstream, tmp_path, discord, KILLS // 2),
        slack_chain(upstream, tmp_path, slack, KILLS - KILLS // 2),
    )
    with capsys.disabled():  # the figures, in the run's output
        print("", *(each.line() for each in figures), sep="\n")
    for each in figures:
        record_property(f"crash_{each.chain}", each.line())
        # The moments did reach into the answers (the checks above had work to do).
        assert each.landed["mid-stream"] >= 20, each.line()
        assert each.landed["while the model thought"] >= 3, each.line()
    assert sum(sum(f.landed.values()) for f in figures) == KILLS


# -- the record a crash needs, while the model thinks -------------------------------


class AnswerOrder(MemoryStore):
    """A store that notes what the platform showed when the question and when its
    answer's turn were stored."""

    def __init__(self, fake: FakeDiscord) -> None:
        super().__init__()
        self._fake = fake
        self.shown_before_answer: list[int] | None = None
        self.thread_before_question: bool | None = None

    async def add_turn(self, key: ThreadKey, turn: Turn) -> Turn | None:
        if turn.role is Role.USER and self.thread_before_question is None:
            asked = self._fake.message(int(turn.platform_message_id or 0))
            self.thread_before_question = asked.thread_id is not None
        if turn.role is Role.ASSISTANT and self.shown_before_answer is None:
            bot_id = self._fake.bot.id
            in_thread = self._fake.messages(int(key.thread))
            shown = [m.id for m in in_thread if m.author.id == bot_id]
            self.shown_before_answer = shown
        return await super().add_turn(key, turn)


@pytest.fixture
def upstream_settings(upstream: FakeUpstream) -> UpstreamSettings:
    """A patient client: the model below thinks longer than the default 2 s."""
    return UpstreamSettings(
        base_url=upstream.base_url,
        api_key=SecretStr(API_KEY),
        timeout_first_token=20.0,
        timeout_idle=20.0,
    )


async def test_an_answer_is_stored_before_its_placeholder_which_it_names_at_once(
    client: UpstreamClient, upstream_settings: UpstreamSettings, upstream: FakeUpstream
) -> None:
    """Not at the first words: the model may think for seconds, and a crash meanwhile
    would leave a placeholder (with its Stop button) that no start can finish."""
    upstream.fail_next(Fault("stall", after_chunks=0, seconds=30))  # the model thinks
    async with RecordingDiscord(FAST_DISCORD) as fake:
        store = AnswerOrder(fake)
        rig = Rig(fake, store, client, upstream_settings)
        async with rig.bot():
            asked = await fake.dispatch_message(content="think hard", mentions_bot=True)
            thread = await rig.thread_of(asked)
            placeholder = await fake.wait_for_message(thread, lambda m: m.author is fake.bot)
            await eventually(lambda: store.find_by_message("discord", str(placeholder.id)))
            stored = await store.find_by_message("discord", str(placeholder.id))
            assert fake.message(placeholder.id).content == wording.THINKING_PLACEHOLDER
    assert store.thread_before_question is False  # the question first, then its thread
    assert store.shown_before_answer == []  # the answer's turn first, then its first message
    assert stored is not None
    assert (stored.turn.role, stored.turn.status) == (Role.ASSISTANT, TurnStatus.STREAMING)
