"""The ``threadline`` command as a user runs it: a real process, the fake upstream."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.domain import TurnStatus
from storage import SqliteStore
from tests.fakes.upstream import API_KEY, Answer, FakeUpstream, Fault

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(upstream: FakeUpstream, tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_BASE_URL": upstream.base_url,
        "STORAGE__PATH": str(tmp_path / "threadline.db"),
        "STORAGE__FLUSH_INTERVAL": "0.2",
    }


async def threadline(
    env: dict[str, str], *args: str, cwd: Path | None = None, stdin: bytes = b""
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_ask_streams_the_answer_and_keeps_the_thread(env: dict[str, str]) -> None:
    code, out, _err = await threadline(env, "ask", "--thread", "t1", "What", "is", "WAL?")
    assert (code, out) == (0, "You said: What is WAL?\n")
    code, out, _ = await threadline(env, "ask", "--thread", "t1", "And", "fsync?")
    assert code == 0
    code, out, _ = await threadline(env, "history", "--thread", "t1", "--json")
    turns = json.loads(out)
    assert [(t["role"], t["text"]) for t in turns] == [
        ("user", "What is WAL?"),
        ("assistant", "You said: What is WAL?"),
        ("user", "And fsync?"),
        ("assistant", "You said: And fsync?"),
    ]
    assert all(t["status"] == "complete" for t in turns)


async def test_ask_with_a_model_and_system_prompt(
    env: dict[str, str], upstream: FakeUpstream
) -> None:
    code, _, _ = await threadline(env, "ask", "--model", "gpt-4", "--system", "Be brief.", "hi")
    assert code == 0
    sent = upstream.requests[-1]
    assert sent["model"] == "gpt-4"
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}


async def test_an_upstream_error_exits_3_with_the_sentence_and_trace_id(
    env: dict[str, str], upstream: FakeUpstream
) -> None:
    upstream.fail_next(Fault("error", code="api_not_implemented", trace_id="trace-77"))
    code, out, err = await threadline(env, "ask", "hello")
    assert code == 3
    assert "api_not_implemented" in err
    assert "(trace id: trace-77)" in err
    assert API_KEY not in out + err


async def test_bad_configuration_exits_2_with_a_sentence(env: dict[str, str]) -> None:
    code, _, err = await threadline(env | {"UPSTREAM__TEMPERATURE": "7"}, "ask", "hi")
    assert code == 2
    assert "UPSTREAM__TEMPERATURE" in err
    assert "between 0 and 2" in err
    no_key = {k: v for k, v in env.items() if k != "OPENAI_API_KEY"}
    code, _, err = await threadline(no_key, "ask", "hi")
    assert code == 2
    assert "OPENAI_API_KEY is not set" in err


async def test_the_documented_env_file_is_honoured(
    env: dict[str, str], upstream: FakeUpstream, tmp_path: Path
) -> None:
    # The API docs' .env, verbatim in shape (quotes and a trailing comment included).
    (tmp_path / ".env").write_text(
        f'OPENAI_API_KEY="{API_KEY}"\n'
        f'OPENAI_BASE_URL="{upstream.base_url}"  # Reminder: a proxy address\n'
    )
    bare = {k: v for k, v in env.items() if not k.startswith("OPENAI_")}
    code, out, err = await threadline(bare, "ask", "from dotenv", cwd=tmp_path)
    assert (code, out) == (0, "You said: from dotenv\n"), err


async def test_check_reports_each_part(env: dict[str, str], upstream: FakeUpstream) -> None:
    code, out, _ = await threadline(env, "check")
    assert code == 0
    assert "configuration: ok" in out
    assert "database: ok" in out
    assert "upstream: ok" in out
    upstream.fail_next(Fault("error", code="invalid_token"))
    code, out, err = await threadline(env, "check")
    assert code == 3
    assert "OPENAI_API_KEY" in err
    assert API_KEY not in out + err


async def test_check_knows_a_slack_app_installed_by_oauth(env: dict[str, str]) -> None:
    distributed = {**env, "SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s3cret-value"}
    code, out, _ = await threadline({**distributed, "SLACK_SIGNING_SECRET": "sig"}, "check")
    assert code == 0
    assert "slack: ok (OAuth installs: each workspace" in out
    assert "platforms: none configured" not in out
    code, out, err = await threadline(distributed, "check")  # no signing secret: no HTTP mode
    assert "slack: not ok" in out
    assert "SLACK_SIGNING_SECRET" in err
    assert "s3cret-value" not in out + err


async def test_run_without_platforms_says_what_to_set(env: dict[str, str]) -> None:
    code, _, err = await threadline(env, "run")
    assert code == 2
    assert "DISCORD_TOKEN" in err
    assert "SLACK_BOT_TOKEN" in err


async def test_run_for_one_platform_needs_that_platforms_credentials(
    env: dict[str, str],
) -> None:
    slack_only = {**env, "SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_SIGNING_SECRET": "s3cret"}
    code, _, err = await threadline(slack_only, "run", "--platform", "discord")
    assert code == 2
    assert "threadline run --platform discord" in err
    assert "DISCORD_TOKEN" in err
    assert "xoxb-1-abc" not in err


async def test_chat_resumes_a_thread(env: dict[str, str]) -> None:
    code, out, _ = await threadline(env, "chat", "--thread", "c", stdin=b"first\nsecond\n")
    assert code == 0
    assert "You said: first" in out
    assert "You said: second" in out
    code, out, _ = await threadline(env, "history", "--thread", "c")
    assert out.count("You said:") == 2


async def test_a_local_image_is_sent_as_an_image_part(
    env: dict[str, str], upstream: FakeUpstream, tmp_path: Path
) -> None:
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    code, _out, _ = await threadline(env, "ask", "--image", str(picture), "what is it?")
    assert code == 0
    parts = upstream.requests[-1]["messages"][-1]["content"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    code, _, err = await threadline(env, "ask", "--image", str(tmp_path / "notes.txt"), "x")
    assert code == 2
    assert "PNG, JPEG, WebP or GIF" in err


async def test_sigkill_mid_stream_loses_nothing_but_the_last_flush(
    env: dict[str, str], upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.answer = Answer(tokens=2_000, tokens_per_s=200)
    database = tmp_path / "threadline.db"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "ask",
        "--thread",
        "k",
        "tell me a long story",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    printed = b""
    while printed.count(b"tok") < 150:  # ~0.75 s of answer, more than two flushes
        printed += await asyncio.wait_for(process.stdout.read(4096), 10)
    process.send_signal(signal.SIGKILL)
    await process.wait()
    assert process.returncode == -signal.SIGKILL

    with sqlite3.connect(database) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    async with await SqliteStore.open(database) as store:
        from adapters.console import console_key

        window = await store.history(console_key("k"), token_budget=10**6, max_turns=10)
        question, answer = window.turns
        assert question.text == "tell me a long story"
        assert answer.status is TurnStatus.STREAMING
        saved = answer.text.count("tok")
        shown = printed.count(b"tok")
        # At most one flush interval (0.2 s at 200 tokens/s = 40 tokens) plus the
        # read in flight (UPSTREAM__READ_INTERVAL, 0.5 s = 100 tokens) is missing.
        assert saved > 0
        assert shown - saved <= 40 + 100
    # The next start finishes the interrupted answer's record.
    code, out, _ = await threadline(env, "history", "--thread", "k", "--json")
    code, _, _ = await threadline(env, "ask", "--thread", "k", "go on")
    assert code == 0
    code, out, _ = await threadline(env, "history", "--thread", "k", "--json")
    statuses = [t["status"] for t in json.loads(out)]
    assert statuses == ["complete", TurnStatus.INTERRUPTED.value, "complete", "complete"]
