"""A chat platform in memory: enforces message length and request budgets.

Messages longer than the limit are refused (a ``ThreadlineError``, as an adapter
would translate Discord's 400); more than ``channel_rate`` requests in one
channel, or ``overall_rate`` in all, inside their windows answer 429
(``PlatformRateLimited``) and change nothing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from bot.errors import PlatformRateLimited, ThreadlineError
from bot.ports import Clock, MessageRef, PlatformLimits
from bot.streaming import Rate


@dataclass
class FakeMessage:
    channel: str
    id: str
    text: str
    edits: int = 0
    history: list[str] = field(default_factory=list)


class _Log:
    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self.times: deque[float] = deque()

    def admit(self, now: float) -> float | None:
        """None if a request may go now, else the seconds to wait."""
        while self.times and self.times[0] <= now - self.rate.per_seconds:
            self.times.popleft()
        if len(self.times) >= self.rate.count:
            return self.times[0] + self.rate.per_seconds - now
        self.times.append(now)
        return None


class FakePlatform:
    def __init__(
        self,
        clock: Clock,
        *,
        max_chars: int = 2000,
        channel_rate: Rate | None = None,
        overall_rate: Rate | None = None,
        latency: float = 0.0,
    ) -> None:
        self.clock = clock
        self.max_chars = max_chars
        self.channel_rate = channel_rate
        self.overall_log = _Log(overall_rate) if overall_rate else None
        self.channel_logs: dict[str, _Log] = {}
        self.latency = latency
        self.messages: dict[str, FakeMessage] = {}
        self.order: list[str] = []
        self.rate_limited = 0
        self.requests = 0
        self.too_long = 0
        self.typing_calls = 0
        self.inject_429: list[float] = []  # retry_after values answered next, in order
        self._ids = 0

    def target(self, channel: str) -> FakeTarget:
        return FakeTarget(self, channel)

    def channel_texts(self, channel: str) -> list[str]:
        return [self.messages[i].text for i in self.order if self.messages[i].channel == channel]

    async def request(self, channel: str, text: str | None) -> None:
        if self.latency:
            await asyncio.sleep(self.latency)
        self.requests += 1
        if self.inject_429:
            self.rate_limited += 1
            raise PlatformRateLimited(self.inject_429.pop(0), bucket=channel)
        now = self.clock.monotonic()
        if self.overall_log is not None and (wait := self.overall_log.admit(now)) is not None:
            self.rate_limited += 1
            raise PlatformRateLimited(wait, is_global=True)
        if self.channel_rate is not None:
            log = self.channel_logs.setdefault(channel, _Log(self.channel_rate))
            if (wait := log.admit(now)) is not None:
                self.rate_limited += 1
                raise PlatformRateLimited(wait, bucket=channel)
        if text is not None and len(text) > self.max_chars:
            self.too_long += 1
            raise ThreadlineError(f"message of {len(text)} chars refused")
        if text is not None and not text.strip():
            raise ThreadlineError("empty message refused")

    def new_id(self) -> str:
        self._ids += 1
        return str(self._ids)


@dataclass
class FakeTarget:
    platform: FakePlatform
    channel: str

    @property
    def limits(self) -> PlatformLimits:
        return PlatformLimits(max_message_chars=self.platform.max_chars)

    @property
    def bucket(self) -> str:
        return self.channel

    async def post(self, text: str) -> MessageRef:
        await self.platform.request(self.channel, text)
        message = FakeMessage(self.channel, self.platform.new_id(), text, history=[text])
        self.platform.messages[message.id] = message
        self.platform.order.append(message.id)
        return MessageRef(self.channel, message.id)

    async def edit(self, ref: MessageRef, text: str) -> None:
        await self.platform.request(self.channel, text)
        message = self.platform.messages[ref.id]
        message.text = text
        message.edits += 1
        message.history.append(text)

    async def delete(self, ref: MessageRef) -> None:
        await self.platform.request(self.channel, None)
        self.platform.order.remove(ref.id)
        del self.platform.messages[ref.id]

    async def upload(self, name: str, data: bytes, mime: str) -> MessageRef:
        return await self.post(f"[file {name}]")

    async def typing(self) -> None:
        self.platform.typing_calls += 1
