"""When to try a failed call again: before the first token only, with backoff."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bot.errors import UpstreamError, UpstreamRateLimited


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring ``Retry-After``.

    ``attempts`` counts every try (1 = never retry); ``max_seconds`` bounds the
    total time spent waiting, so a user is never left hanging on retries.
    """

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_seconds: float = 30.0

    def delay(self, error: UpstreamError, attempt: int, waited: float) -> float | None:
        """Seconds to wait before try ``attempt + 1``, or None to give up."""
        if not error.retryable or attempt >= self.attempts:
            return None
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        delay = random.uniform(backoff / 2, backoff)
        if isinstance(error, UpstreamRateLimited) and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        if waited + delay > self.max_seconds:
            return None
        return delay
