"""What a newcomer tries first (issue 21): a real ``threadline`` process, loopback fakes only."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.cli import build_parser
from tests.fakes.discord import FakeDiscord
from tests.fakes.slack import SlackFake
from tests.fakes.upstream import API_KEY, Answer, FakeUpstream, Fault
from tests.test_cli import ROOT, threadline
from tests.test_settings import SEED_ENV_FILE, docker_env_file


@pytest.fixture
def env(upstream: FakeUpstream, tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_BASE_URL": upstream.base_url,
        "STORAGE__PATH": str(tmp_path / "threadline.db"),
    }


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake


def without(env: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in names}


# -- 1. Docker's --env-file ----------------------------------------------------------


async def test_the_readme_docker_env_file_works(
    env: dict[str, str], upstream: FakeUpstream
) -> None:
    """``docker run --env-file .env`` with the documented .env: quotes and comment kept."""
    dotenv = SEED_ENV_FILE.replace("sk-xxx", API_KEY)
    dotenv = dotenv.replace("https://api.acedata.cloud/openai", upstream.base_url)
    docker = docker_env_file(dotenv)
    assert docker["OPENAI_API_KEY"].startswith('"')
    code, out, err = await threadline(
        without(env, "OPENAI_API_KEY", "OPENAI_BASE_URL") | docker, "ask", "hi"
    )
    assert (code, out) == (0, "You said: hi\n"), err


# -- 2. a wrong base URL -------------------------------------------------------------


async def test_check_names_a_base_url_without_chat_completions(
    env: dict[str, str], upstream: FakeUpstream
) -> None:
    wrong = upstream.base_url + "/chat/completions"
    code, out, err = await threadline(env | {"OPENAI_BASE_URL": wrong}, "check")
    assert code == 3
    assert "upstream: not ok" in out
    assert f"no chat completions at {wrong}/chat/completions" in err
    assert "check OPENAI_BASE_URL" in err


# -- 3. a setting that used to hang --------------------------------------------------


async def test_zero_reply_slots_answers_and_a_negative_count_is_refused(
    env: dict[str, str],
) -> None:
    """0 used to hang ``ask`` forever; it now means "as many as the upstream tolerates"
    (bot/concurrency.py), and a negative count stops start-up with a sentence."""
    code, out, _ = await threadline(env | {"LIMITS__MAX_CONCURRENT_REPLIES": "0"}, "ask", "hi")
    assert (code, out.strip()) == (0, "You said: hi")
    code, out, err = await threadline(env | {"LIMITS__MAX_CONCURRENT_REPLIES": "-1"}, "ask", "hi")
    assert (code, out) == (2, "")
    assert "LIMITS__MAX_CONCURRENT_REPLIES must be at least 0" in err


# -- 4. CLI habits ---------------------------------------------------------------------


async def test_env_file_before_or_after_the_command(env: dict[str, str], tmp_path: Path) -> None:
    settings = tmp_path / "elsewhere.env"
    settings.write_text(f'OPENAI_API_KEY="{API_KEY}"\n')
    bare = without(env, "OPENAI_API_KEY")
    for args in (
        ["--env-file", str(settings), "ask", "one"],
        ["ask", "--env-file", str(settings), "one"],
    ):
        code, out, err = await threadline(bare, *args, cwd=tmp_path)
        assert (code, out) == (0, "You said: one\n"), err


async def test_a_named_env_file_that_does_not_exist_is_an_error(
    env: dict[str, str], tmp_path: Path
) -> None:
    code, out, err = await threadline(env, "ask", "--env-file", str(tmp_path / "nope.env"), "hi")
    assert (code, out) == (2, "")
    assert "nope.env does not exist" in err


async def test_version(env: dict[str, str]) -> None:
    code, out, _ = await threadline(env, "--version")
    assert code == 0
    assert out.startswith("threadline ")


def test_every_command_has_a_description() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    assert set(commands.choices) == {"run", "chat", "ask", "threads", "history", "check"}  # type: ignore[arg-type]
    for name, sub in commands.choices.items():  # type: ignore[union-attr]
        assert sub.description, name
        assert "--env-file" in sub.format_help(), name


async def test_a_file_that_is_not_an_image_exits_2(env: dict[str, str], tmp_path: Path) -> None:
    fake = tmp_path / "cat.png"
    fake.write_bytes(b"not a picture at all")
    code, out, err = await threadline(env, "ask", "--image", str(fake), "what is it?")
    assert (code, out) == (2, "")
    assert "cat.png is not an image" in err


async def test_a_failed_ask_prints_one_sentence_and_nothing_on_stdout(
    env: dict[str, str], upstream: FakeUpstream
) -> None:
    upstream.fail_next(Fault("error", code="api_not_implemented", trace_id="trace-9"))
    code, out, err = await threadline(env, "ask", "hello")
    assert (code, out) == (3, "")
    assert err.count("\n") == 1, err  # the sentence, no log line before it
    assert "api_not_implemented" in err
    assert "(trace id: trace-9)" in err


async def test_check_without_a_key_says_configuration_not_ok_and_creates_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    code, out, err = await threadline(without(env, "OPENAI_API_KEY"), "check")
    assert code == 2
    assert "configuration: not ok" in out
    assert "OPENAI_API_KEY is not set" in err
    assert not (tmp_path / "threadline.db").exists()


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """A database file threadline may read but not write, also for root (chattr +i)."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        yield
        path.chmod(0o644)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root without chattr: no file is read-only to root")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


async def test_check_says_a_read_only_database_is_not_ok(
    env: dict[str, str], tmp_path: Path
) -> None:
    code, _, _ = await threadline(env, "ask", "make the file")
    assert code == 0
    database = tmp_path / "threadline.db"
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with read_only(database):
        code, out, err = await threadline(env, "check")
    assert code == 2
    assert "database: ok" not in out
    assert "database: not ok" in out
    assert "cannot write its database" in err


async def test_check_tries_the_discord_token(
    env: dict[str, str], discord_fake: FakeDiscord
) -> None:
    discord = env | {
        "DISCORD_TOKEN": discord_fake.token,
        "DISCORD_API_BASE_URL": discord_fake.api_base,
    }
    code, out, err = await threadline(discord, "check")
    assert code == 0, err
    assert "discord: ok (as " in out
    code, out, err = await threadline(discord | {"DISCORD_TOKEN": "not-the-token"}, "check")
    assert code == 2
    assert "discord: not ok" in out
    assert "Discord refused DISCORD_TOKEN" in err
    assert "not-the-token" not in out + err


async def test_check_tries_the_slack_token(env: dict[str, str]) -> None:
    async with SlackFake() as slack:
        given = env | {
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_APP_TOKEN": slack.app_token,
            "SLACK_API_BASE_URL": slack.base_url,
        }
        code, out, err = await threadline(given, "check")
        assert code == 0, err
        assert "slack: ok" in out
        code, out, err = await threadline(given | {"SLACK_BOT_TOKEN": "xoxb-9-9-wrong"}, "check")
        assert code == 2
        assert "slack: not ok" in out
        assert "invalid_auth" in err
        swapped = given | {"SLACK_BOT_TOKEN": slack.app_token, "SLACK_APP_TOKEN": slack.bot_token}
        code, out, err = await threadline(swapped, "check")
    assert code == 2
    assert "configuration: not ok" in out
    assert "SLACK_BOT_TOKEN holds the app-level token (xapp-…)" in err
    assert slack.app_token not in out + err


async def test_history_of_an_unknown_thread_exits_2(env: dict[str, str]) -> None:
    code, out, err = await threadline(env, "history", "--thread", "never")
    assert (code, out) == (2, "")
    assert "No thread 'never' is stored" in err


async def test_threads_lists_the_stored_conversations(env: dict[str, str]) -> None:
    for thread in ("alpha", "beta"):
        code, _, _ = await threadline(env, "ask", "--thread", thread, "hi")
        assert code == 0
    code, out, _ = await threadline(env, "threads")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["beta", "alpha"]
    code, out, _ = await threadline(env, "threads", "--json")
    assert [row["thread"] for row in json.loads(out)] == ["beta", "alpha"]
    assert all(row["turns"] == 2 for row in json.loads(out))


async def test_history_shows_a_failed_answer_with_status_and_trace_id(
    env: dict[str, str], upstream: FakeUpstream
) -> None:
    upstream.fail_next(Fault("error_event", code="api_error", after_chunks=3, trace_id="tr-5"))
    code, _, _ = await threadline(env, "ask", "--thread", "cut", "tell me something long")
    assert code == 3
    code, out, _ = await threadline(env, "history", "--thread", "cut")
    assert code == 0
    assert "threadline [failed] (trace id: tr-5): You said" in out
    code, out, _ = await threadline(env, "history", "--thread", "cut", "--json")
    answer = json.loads(out)[-1]
    assert (answer["status"], answer["trace_id"]) == ("failed", "tr-5")
    assert answer["text"].startswith("You said")


# -- 5. chat ---------------------------------------------------------------------------


async def test_chat_help_lists_the_commands(env: dict[str, str]) -> None:
    code, out, _ = await threadline(env, "chat", stdin=b"/help\n/nope\n")
    assert code == 0
    assert "/help" in out
    assert "/exit" in out
    assert "Ctrl-C" in out
    assert "/nope is not a chat command" in out


async def test_chat_resumes_a_thread_showing_its_last_turns(env: dict[str, str]) -> None:
    code, _, _ = await threadline(env, "chat", "--thread", "r", stdin=b"first\n")
    assert code == 0
    code, out, _ = await threadline(env, "chat", "--thread", "r", stdin=b"")
    assert code == 0
    banner_and_turns = out.split("you> \n")[0]  # what is shown before the first prompt
    assert "you> first" in banner_and_turns
    assert "threadline> You said: first" in banner_and_turns


async def test_a_chat_thread_keeps_the_model_it_was_started_with(
    env: dict[str, str], upstream: FakeUpstream
) -> None:
    code, _, _ = await threadline(env, "chat", "--thread", "m", "--model", "gpt-4", stdin=b"a\n")
    assert code == 0
    assert upstream.requests[-1]["model"] == "gpt-4"
    code, out, _ = await threadline(env, "chat", "--thread", "m", stdin=b"b\n")
    assert code == 0
    assert "with gpt-4" in out
    assert upstream.requests[-1]["model"] == "gpt-4"
    code, _, _ = await threadline(env, "chat", "--thread", "other", stdin=b"c\n")
    assert upstream.requests[-1]["model"] == "gpt-4o-mini"  # the default, elsewhere


async def read_until(stream: asyncio.StreamReader, marker: bytes, seen: bytearray) -> None:
    while marker not in seen:
        chunk = await asyncio.wait_for(stream.read(4096), 20)
        assert chunk, f"ended before {marker!r}: {seen.decode()[-500:]}"
        seen += chunk


async def test_ctrl_c_stops_the_answer_and_a_second_one_quits(
    env: dict[str, str], upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(tokens=5_000, tokens_per_s=100)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "chat", "--thread", "c",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None
    assert process.stdout is not None
    seen = bytearray()
    process.stdin.write(b"tell me a long story\n")
    await read_until(process.stdout, b"tok tok tok", seen)
    process.send_signal(signal.SIGINT)  # stops the answer, not the chat
    await read_until(process.stdout, b"you> ", seen[seen.rindex(b"tok") :])
    upstream.answer = Answer()
    process.stdin.write(b"still there?\n")
    await read_until(process.stdout, b"You said: still there?", seen)
    await read_until(process.stdout, b"you> ", bytearray())
    process.send_signal(signal.SIGINT)  # at the prompt: leaves
    code = await asyncio.wait_for(process.wait(), 20)
    assert code == 0
    history = await threadline(env, "history", "--thread", "c", "--json")
    statuses = [turn["status"] for turn in json.loads(history[1])]
    assert statuses == ["complete", "interrupted", "complete", "complete"]
