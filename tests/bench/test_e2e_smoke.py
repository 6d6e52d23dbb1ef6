"""bench/e2e.py runs end to end on both platforms (tiny numbers; never asserts on time)."""

from __future__ import annotations

import pytest

from bench.e2e import bench

KEYS = {
    "burst",
    "first_seen_p99_ms",
    "final_lag_p50_ms",
    "floor_first_visible_ms",
    "floor_final_lag_ms",
    "exact",
    "answers",
    "cpu_s",
    "bench",
    "platform",
    "conversations",
    "first_visible_p50_ms",
    "first_visible_p99_ms",
    "final_lag_p99_ms",
    "rate_limited",
    "lost_turns",
    "cpu_s_per_1k_tokens",
    "peak_rss_mb",
}


@pytest.mark.parametrize("platform", ["discord", "slack"])
async def test_e2e_bench_answers_every_turn(platform: str) -> None:
    figures = await bench(platform, conversations=2, channels=2, tokens=5, rate=200.0, think=0.1)
    assert set(figures) == KEYS
    assert figures["bench"] == "e2e"
    assert figures["platform"] == platform
    assert figures["conversations"] == 2
    assert figures["lost_turns"] == 0
