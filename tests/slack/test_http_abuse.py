"""An outsider posting to the public Slack endpoint costs a bounded, small amount of log.

Against a real ``threadline run`` in HTTP mode, its log written to a file: 200
unsigned 1 MB POSTs (missing, forged, stale and non-numeric signatures) add less
than 100 KB of log, none of their text, and are each refused with 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.slack import SlackFake
from tests.fakes.slack.events import sign
from tests.fakes.upstream import API_KEY, FakeUpstream

ROOT = Path(__file__).resolve().parent.parent.parent
SECRET_WORDS = "the launch code is swordfish"
MEGABYTE = 1_000_000
SERVING = re.compile(r"serving Slack events on [^:\s]+:(\d+)")


def abusive_body() -> bytes:
    """A 1 MB event callback whose message text an outsider made up."""
    event = {"type": "message", "channel": "C0GENERAL1", "user": "U0EVE00001", "ts": "1.000001"}
    body = {"type": "event_callback", "team_id": "T0FAKE0001", "event": event | {"text": ""}}
    filler = MEGABYTE - len(json.dumps(body).encode())
    text = (SECRET_WORDS + " ") * (filler // (len(SECRET_WORDS) + 1) + 1)
    return json.dumps(body | {"event": event | {"text": text[:filler]}}).encode()


def forged_headers(round_: int, body: bytes) -> dict[str, str]:
    """Four ways to be unsigned, in turn."""
    now = str(int(time.time()))
    how = round_ % 4
    if how == 0:
        return {}
    if how == 1:
        return sign(body, "not-the-signing-secret")
    if how == 2:
        return sign(body, "not-the-signing-secret", "stale")
    return {"X-Slack-Request-Timestamp": f"{now}abc", "X-Slack-Signature": "v0=" + "0" * 64}


@contextlib.asynccontextmanager
async def threadline_run(
    upstream: FakeUpstream, slack: SlackFake, tmp_path: Path, **extra: str
) -> AsyncIterator[tuple[int, Path]]:
    """``threadline run`` in Slack HTTP mode on a free port; its log goes to a file."""
    log_path = tmp_path / "threadline.log"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_BASE_URL": upstream.base_url,
        "STORAGE__PATH": str(tmp_path / "threadline.db"),
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK__API_URL": slack.base_url,
        "SLACK__HTTP_HOST": "127.0.0.1",
        "SLACK__HTTP_PORT": "0",
        "OPS__PORT": "off",
    } | extra
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, cwd=ROOT, stderr=log
        )
        try:
            yield await _serving_port(log_path, process), log_path
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)


@pytest.fixture
async def running(upstream: FakeUpstream, tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    async with SlackFake() as slack, threadline_run(upstream, slack, tmp_path) as running:
        yield running


def log_text(path: Path) -> str:
    return path.read_text(errors="replace")


async def _serving_port(log_path: Path, process: asyncio.subprocess.Process) -> int:
    for _ in range(300):
        found = SERVING.search(log_text(log_path))
        if found:
            return int(found.group(1))
        assert process.returncode is None, log_text(log_path)
        await asyncio.sleep(0.1)
    raise AssertionError("threadline run did not start serving: " + log_text(log_path))


async def test_200_unsigned_megabyte_requests_add_little_log(
    running: tuple[int, Path],
) -> None:
    port, log_path = running
    url = f"http://127.0.0.1:{port}/slack/events"
    body = abusive_body()
    before = log_path.stat().st_size
    statuses: list[int] = []
    async with aiohttp.ClientSession() as session:
        for round_ in range(200):
            headers = {"Content-Type": "application/json"} | forged_headers(round_, body)
            async with session.post(url, data=body, headers=headers) as response:
                statuses.append(response.status)
                await response.read()
    added = log_path.stat().st_size - before
    log = log_text(log_path)
    print(f"200 unsigned 1 MB requests added {added} bytes of log")
    assert statuses == [401] * 200
    assert added < 100_000
    assert "swordfish" not in log
    assert "Traceback" not in log


async def test_message_text_stays_out_of_a_debug_log(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """LOGGING__LEVEL=DEBUG: the Slack SDK logs every request and response body at
    DEBUG; without LOGGING__LOG_MESSAGE_CONTENT no question or answer reaches the log."""
    async with (
        SlackFake() as slack,
        threadline_run(upstream, slack, tmp_path, LOGGING__LEVEL="DEBUG") as (port, log_path),
    ):
        url = f"http://127.0.0.1:{port}/slack/events"
        mention = slack.payloads.app_mention(SECRET_WORDS)
        await slack.wait_for_ack(await slack.send_event(mention, "http", url=url))
        await slack.wait_for(
            lambda: any(
                SECRET_WORDS in m.body for m in slack.messages("C0GENERAL1", mention["ts"])
            ),
            30,
            "the answer",
        )
    log = log_text(log_path)
    assert "DEBUG" in log  # the level took
    assert "swordfish" not in log


MALFORMED = (
    b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n",
    b"POST /slack/events HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n",
    b"POST /slack/events HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",  # no Host
    b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
)


async def test_200_requests_that_are_not_http_add_little_log(running: tuple[int, Path]) -> None:
    """aiohttp logs each request it cannot parse at ERROR with a traceback (~800 bytes)."""
    port, log_path = running
    before = log_path.stat().st_size
    for round_ in range(200):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(MALFORMED[round_ % len(MALFORMED)])
        await writer.drain()
        assert (await reader.read(12)).startswith(b"HTTP/1.")  # an answer (400), not a hang
        writer.close()
        await writer.wait_closed()
    added = log_path.stat().st_size - before
    print(f"200 requests that are not HTTP added {added} bytes of log")
    assert added < 100_000
    assert "Traceback" not in log_text(log_path)
