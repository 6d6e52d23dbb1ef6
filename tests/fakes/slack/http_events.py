"""Events API over HTTP: signed POSTs to the app's Request URL, with Slack's retries.

(https://docs.slack.dev/apis/events-api/#responding, #retries; signing in events.py)

- Events are JSON; slash commands are form fields; interactions are a form field
  ``payload`` holding JSON.
- The app must answer HTTP 2xx within 3 s. Otherwise an event is retried up to 3
  times with ``X-Slack-Retry-Num: 1..3`` and ``X-Slack-Retry-Reason`` —
  ``http_timeout`` (no answer in time), ``http_error`` (non-2xx) or
  ``connection_failed``. Delays between tries follow ``SlackLimits.http_retry_delays``
  (Slack: immediately, 1 min, 5 min).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from .events import AckRecord, Attempt, Delivery, Signature, encode_http_body, sign

__all__ = ["HttpDeliverer"]

USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


class HttpDeliverer:
    def __init__(self, signing_secret: str, acks: list[AckRecord], on_change: Callable[[], None]):
        self._secret = signing_secret
        self._acks = acks
        self._on_change = on_change
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def deliver(
        self,
        delivery: Delivery,
        url: str,
        *,
        signature: Signature,
        ack_timeout: float,
        retry_delays: tuple[float, ...],
        max_retries: int,
    ) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        body, content_type = encode_http_body(delivery.kind, delivery.payload)
        reason = ""
        retries = max_retries if delivery.retryable else 0
        for number in range(retries + 1):
            if number:
                await asyncio.sleep(retry_delays[min(number, len(retry_delays)) - 1])
            headers = {"Content-Type": content_type, "User-Agent": USER_AGENT}
            headers.update(sign(body, self._secret, signature))
            if number:
                headers.update({"X-Slack-Retry-Num": str(number), "X-Slack-Retry-Reason": reason})
            attempt = Attempt(number, reason, time.monotonic())
            delivery.attempts.append(attempt)
            reason = await self._post(delivery, attempt, url, body, headers, ack_timeout)
            self._on_change()
            if delivery.acked:
                break
        delivery.finished = True
        self._on_change()

    async def _post(
        self,
        delivery: Delivery,
        attempt: Attempt,
        url: str,
        body: bytes,
        headers: dict[str, str],
        ack_timeout: float,
    ) -> str:
        """One POST; returns the retry reason for the next try ("" when acked)."""
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=ack_timeout)
        try:
            async with self._session.post(url, data=body, headers=headers, timeout=timeout) as resp:
                attempt.status = resp.status
                attempt.response = await _read_body(resp)
        except TimeoutError:
            attempt.outcome = "timeout"
            return "http_timeout"
        except aiohttp.ClientError:
            attempt.outcome = "connection_failed"
            return "connection_failed"
        if not 200 <= resp.status < 300:
            attempt.outcome = "http_error"
            return "http_error"
        attempt.outcome = "acked"
        record = AckRecord(
            delivery.id,
            delivery.kind,
            "http",
            attempt.number,
            None,
            attempt.response,
            time.monotonic(),
        )
        self._acks.append(record)
        delivery.acked_event.set()
        return ""


async def _read_body(resp: aiohttp.ClientResponse) -> Any:
    text = await resp.text()
    if resp.content_type == "application/json" and text:
        with contextlib.suppress(ValueError):
            return await resp.json()
    return text
