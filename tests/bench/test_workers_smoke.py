"""bench/workers.py runs: two real workers on real PostgreSQL and Redis (tiny numbers;
never asserts on time)."""

from __future__ import annotations

import pytest

from bench import workers

CONTRACT = {  # issue 18 spells these out
    "bench",
    "workers",
    "conversations",
    "rate_limited",
    "duplicate_answers",
    "lost_turns",
    "first_visible_p99_ms",
    "answers_per_s",
}


async def test_two_workers_answer_discord_and_slack_once_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workers, "THINK_SECONDS", 0.2)
    figures = await workers.run(2, 4, 2, 5, 100.0, False)
    assert set(figures) >= CONTRACT
    assert figures["bench"] == "workers"
    assert figures["answers"] == 4 * workers.TURNS
    assert figures["duplicate_answers"] == 0  # every Slack delivery was also retried
    assert figures["lost_turns"] == figures["history_lost"] == figures["rate_limited"] == 0
