"""Prometheus metrics, on a registry of their own (``GET /metrics``, bot/health.py).

Each ``Metrics`` owns a fresh ``CollectorRegistry`` rather than prometheus-client's
global one, so several services (and tests) in one process never collide, and
nothing is registered at import.

What is counted, and where:

- ``threadline_answers_total{outcome}``: every attempt to answer (``answered``,
  ``failed``, ``interrupted``), counted by ``ReplyService``; duplicates and
  refused messages never reach the model and are not answers;
- ``threadline_tokens_total{kind}``: ``prompt`` and ``completion`` tokens as the
  API reports them in ``usage`` (estimated, as for the quotas, when a stream
  carries none);
- ``threadline_time_to_first_token_seconds``: from the message reaching the
  service (queueing behind the thread's earlier answer included) to the first
  text of the answer;
- ``threadline_time_to_final_edit_seconds``: from the same start to the final
  edit of an answered message being shown on the platform;
- ``threadline_upstream_errors_total{code}``: answers ended by an upstream error,
  by the API's (or threadline's own) error code, after the client's retries;
- ``threadline_platform_rate_limited_total{platform}``: 429s the platform
  answered, read from each connection's ``EditScheduler.stats`` at scrape time;
- ``threadline_refusals_total{reason}``: messages a cost or abuse control
  refused (bot/allowance.py: ``user_rate``, ``user_quota``, ``in_flight`` …);
- ``threadline_answers_in_flight``: answers being written now.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.domain import Usage
from bot.errors import UpstreamError

__all__ = ["LATENCY_BUCKETS", "Metrics"]

# Seconds: a streamed first token lands in well under a second to a few seconds;
# a long answer's final edit can take a minute or more.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """The service's instruments; ``registry`` is what ``/metrics`` renders."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.answers = Counter("threadline_answers", "Answers by outcome.", ["outcome"], registry=r)
        self.tokens = Counter(
            "threadline_tokens", "Tokens the API reported, by kind.", ["kind"], registry=r
        )
        self.time_to_first_token = Histogram(
            "threadline_time_to_first_token_seconds",
            "From a message reaching the service to the first text of its answer.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.time_to_final_edit = Histogram(
            "threadline_time_to_final_edit_seconds",
            "From a message reaching the service to its answer's final edit being shown.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_errors = Counter(
            "threadline_upstream_errors",
            "Answers ended by an upstream error, by error code.",
            ["code"],
            registry=r,
        )
        self.refusals = Counter(
            "threadline_refusals",
            "Messages refused by a cost or abuse control, by control.",
            ["reason"],
            registry=r,
        )
        self.in_flight = Gauge(
            "threadline_answers_in_flight", "Answers being written now.", registry=r
        )
        self._rate_limits = _RateLimits()
        r.register(self._rate_limits)

    def answer_ended(
        self, outcome: str, *, usage: Usage | None = None, error: object = None
    ) -> None:
        """Count one answer, its tokens, and the upstream error that ended it."""
        self.answers.labels(outcome).inc()
        if usage is not None:
            self.tokens.labels("prompt").inc(usage.prompt_tokens)
            self.tokens.labels("completion").inc(usage.completion_tokens)
        if isinstance(error, UpstreamError):
            self.upstream_errors.labels(error.code).inc()

    def watch_rate_limits(self, platform: str, read: Callable[[], int | None]) -> None:
        """Report ``read()`` (a connection's 429 count; None: not connected yet) as
        ``threadline_platform_rate_limited_total{platform}`` at every scrape."""
        self._rate_limits.readers[platform] = read


class _RateLimits(Collector):
    """Read at scrape time, so the edit scheduler knows nothing about metrics."""

    def __init__(self) -> None:
        self.readers: dict[str, Callable[[], int | None]] = {}

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "threadline_platform_rate_limited",
            "Requests a platform answered with 429 (rate limited).",
            labels=["platform"],
        )
        for platform, read in sorted(self.readers.items()):
            family.add_metric([platform], read() or 0)
        yield family

    def describe(self) -> Iterable[Metric]:
        return []  # no name clash check needed: the family is ours alone
