"""Issue 22, 9: OPENAI_BASE_URL with user:password@ is refused with a sentence, not a
traceback at the first question, and the password is printed nowhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import load_settings
from tests.fakes.upstream import API_KEY, FakeUpstream
from tests.test_cli import ROOT, threadline

PASSWORD = "hunter2-proxy-pass"


def with_credentials(base_url: str) -> str:
    return base_url.replace("http://", f"http://proxyuser:{PASSWORD}@", 1)


def test_settings_refuse_credentials_in_the_base_url(
    upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", with_credentials(upstream.base_url))
    with pytest.raises(ConfigError) as raised:
        load_settings(env_file=None)
    assert "OPENAI_BASE_URL" in raised.value.user_message
    assert "user:password@" in raised.value.user_message
    assert PASSWORD not in raised.value.user_message


async def test_ask_exits_2_with_the_sentence(upstream: FakeUpstream, tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_BASE_URL": with_credentials(upstream.base_url),
        "STORAGE__PATH": str(tmp_path / "threadline.db"),
    }
    code, out, err = await threadline(env, "ask", "hello")
    assert code == 2
    assert "OPENAI_BASE_URL" in err
    assert "Traceback" not in err
    assert PASSWORD not in out + err
    assert upstream.stats.requests == 0
