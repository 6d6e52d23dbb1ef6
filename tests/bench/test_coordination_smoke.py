"""bench/coordination.py runs against both implementations (tiny numbers; never asserts on time)."""

from __future__ import annotations

from bench.coordination import CALLS, bench


async def test_the_coordination_bench_reports_every_primitive_for_both() -> None:
    figures = await bench(calls=20, concurrency=4)
    assert figures["bench"] == "coordination"
    for name in ("in_process", "redis"):
        for primitive in CALLS:
            for figure in ("p50_us", "p99_us", "per_s"):
                assert f"{name}_{primitive}_{figure}" in figures
