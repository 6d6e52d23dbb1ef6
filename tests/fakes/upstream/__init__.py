"""A seed-exact fake of the chat-completion API (see server.py)."""

from tests.fakes.upstream.seeds import API_KEY
from tests.fakes.upstream.server import Answer, FakeUpstream, Fault, Stats, StreamTiming

__all__ = ["API_KEY", "Answer", "FakeUpstream", "Fault", "Stats", "StreamTiming"]
