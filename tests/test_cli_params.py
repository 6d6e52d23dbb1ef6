"""``threadline ask/chat --temperature --max-tokens --json -n`` as a user runs them."""

from __future__ import annotations

import pytest

from bot import wording
from tests.fakes.upstream import FakeUpstream
from tests.test_cli import env, threadline  # noqa: F401  (the fixture)


async def test_ask_flags_reach_the_request(env: dict[str, str], upstream: FakeUpstream) -> None:  # noqa: F811
    code, out, err = await threadline(
        env, "ask", "--temperature", "0.1", "--max-tokens", "40", "--json", "colours?"
    )
    assert code == 0, err
    assert out == '{"you_said": "colours?"}\n'  # bare JSON on stdout: it pipes to jq
    [request] = upstream.requests
    assert request["temperature"] == 0.1
    assert request["max_tokens"] == 40
    assert request["response_format"] == {"type": "json_object"}


async def test_chat_flags_reach_every_request(
    env: dict[str, str],  # noqa: F811
    upstream: FakeUpstream,
) -> None:
    code, _out, err = await threadline(
        env, "chat", "--temperature", "1.5", "--max-tokens", "64", stdin=b"one\ntwo\n"
    )
    assert code == 0, err
    assert [(r["temperature"], r["max_tokens"]) for r in upstream.requests] == [(1.5, 64)] * 2


@pytest.mark.parametrize(
    ("flags", "sentence"),
    [
        (["--temperature", "2.5"], wording.temperature_out_of_range(2.5)),
        (["--max-tokens", "0"], wording.max_tokens_out_of_range(0, 128_000)),
        (["-n", "7"], wording.n_out_of_range(7, 4)),
    ],
)
async def test_out_of_range_is_bad_input_and_asks_nothing(
    env: dict[str, str],  # noqa: F811
    upstream: FakeUpstream,
    flags: list[str],
    sentence: str,
) -> None:
    code, out, err = await threadline(env, "ask", *flags, "hi")
    assert (code, out, err.strip()) == (2, "", sentence)
    assert upstream.requests == []


async def test_ask_n_prints_each_candidate(env: dict[str, str], upstream: FakeUpstream) -> None:  # noqa: F811
    code, out, err = await threadline(env, "ask", "-n", "2", "hi")
    assert code == 0, err
    assert upstream.requests[0]["n"] == 2
    assert out == (
        "**Candidate 1 of 2**\nYou said: hi\n\n**Candidate 2 of 2**\nYou said: hi (candidate 2)\n"
    )
