"""What a delivery to the app is, and the records the fake keeps about each one.

A *delivery* is one event, slash command or interaction on its way to the app, in
Socket Mode or over HTTP. Each try is an *attempt*; Slack retries Events API
deliveries that are not acknowledged within 3 seconds, up to 3 times
(https://docs.slack.dev/apis/events-api/#retries): over HTTP the retry carries
``X-Slack-Retry-Num`` / ``X-Slack-Retry-Reason`` (``http_timeout``, ``http_error``,
``connection_failed``…); in Socket Mode the envelope carries ``retry_attempt`` (0 on
the first delivery — so 0 is *not* a retry) and ``retry_reason`` (``timeout``).
Slash commands and interactions are not retried: the user sees an error instead.
Bolt does not de-duplicate retries; the app has to (by ``event_id``).

Request signing (https://docs.slack.dev/authentication/verifying-requests-from-slack,
slack_sdk/signature/__init__.py): ``X-Slack-Signature: v0=<hex HMAC-SHA256 of
"v0:{timestamp}:{raw body}" with the signing secret>`` and
``X-Slack-Request-Timestamp``; Bolt refuses timestamps more than 5 minutes off.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from .state import Json

__all__ = [
    "AckRecord",
    "Attempt",
    "Delivery",
    "EnvelopeKind",
    "Mode",
    "Signature",
    "encode_http_body",
    "sign",
]

EnvelopeKind = Literal["events_api", "slash_commands", "interactive"]
Mode = Literal["socket", "http"]
Signature = Literal["valid", "invalid", "missing", "stale"]


@dataclass(slots=True)
class Attempt:
    """One try of a delivery."""

    number: int  # retry_attempt / X-Slack-Retry-Num; 0 is the first delivery
    reason: str  # "" on the first try, else why the previous try failed
    sent_at: float
    envelope_id: str | None = None  # Socket Mode only
    status: int | None = None  # HTTP only: the app's answer, None on timeout/failure
    outcome: str = "pending"  # "acked" | "timeout" | "http_error" | "connection_failed"
    response: Any = None  # ack payload (Socket Mode) or response body (HTTP)


@dataclass(slots=True)
class Delivery:
    id: str  # the event_id for events; generated for commands and interactions
    kind: EnvelopeKind
    mode: Mode
    payload: Json
    attempts: list[Attempt] = field(default_factory=list)
    acked_event: asyncio.Event = field(default_factory=asyncio.Event)
    finished: bool = False

    @property
    def acked(self) -> bool:
        return self.acked_event.is_set()

    @property
    def retryable(self) -> bool:
        return self.kind == "events_api"

    def summary(self) -> Json:
        return {
            "id": self.id,
            "kind": self.kind,
            "mode": self.mode,
            "acked": self.acked,
            "finished": self.finished,
            "attempts": [
                {
                    "number": a.number,
                    "reason": a.reason,
                    "envelope_id": a.envelope_id,
                    "status": a.status,
                    "outcome": a.outcome,
                }
                for a in self.attempts
            ],
        }


@dataclass(frozen=True, slots=True)
class AckRecord:
    """An acknowledgement received from the app (Socket Mode ack or HTTP 200)."""

    delivery_id: str
    kind: EnvelopeKind
    mode: Mode
    attempt: int
    envelope_id: str | None
    payload: Any
    at: float


def new_delivery_id(kind: EnvelopeKind) -> str:
    prefix = {"events_api": "Ev", "slash_commands": "Cmd", "interactive": "Act"}[kind]
    return f"{prefix}{uuid.uuid4().hex[:10].upper()}"


def encode_http_body(kind: EnvelopeKind, payload: Json) -> tuple[bytes, str]:
    """The body and content type Slack POSTs to a Request URL for each kind."""
    if kind == "events_api":
        return json.dumps(payload).encode(), "application/json"
    if kind == "slash_commands":
        return urlencode(payload).encode(), "application/x-www-form-urlencoded"
    return urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"


def sign(body: bytes, secret: str, how: Signature = "valid") -> dict[str, str]:
    """``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` headers.

    ``invalid`` signs with another secret, ``stale`` signs correctly but 10 minutes in
    the past (Bolt allows 5), ``missing`` sends neither header.
    """
    if how == "missing":
        return {}
    now = int(time.time()) - (600 if how == "stale" else 0)
    key = (secret if how != "invalid" else secret + "-wrong").encode()
    base = b"v0:" + str(now).encode() + b":" + body
    digest = hmac.new(key, base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": f"v0={digest}"}
