"""A bounded memory of recently seen delivery ids, to drop Slack's retries.

Slack redelivers an event it thinks was not acknowledged in 3 s, with the same
``event_id`` (HTTP: ``X-Slack-Retry-Num``; Socket Mode: ``retry_attempt``), and
Bolt does not de-duplicate (https://docs.slack.dev/apis/events-api/#retries).
The store's idempotency on message ids is the real guarantee; this cheap check
keeps a retry from doing any work at all.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["RecentIds"]


class RecentIds:
    def __init__(self, capacity: int) -> None:
        self._capacity = max(1, capacity)
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, key: str) -> bool:
        """Remember ``key``; True unless it was seen among the last ``capacity`` keys."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True
