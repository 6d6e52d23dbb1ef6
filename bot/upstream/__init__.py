"""The chat-completion API client (see client.py) and its request/result types."""

from bot.upstream.client import UpstreamClient
from bot.upstream.retry import RetryPolicy
from bot.upstream.types import ChatChoice, ChatDelta, ChatRequest, ChatResult, WireMessage

__all__ = [
    "ChatChoice",
    "ChatDelta",
    "ChatRequest",
    "ChatResult",
    "RetryPolicy",
    "UpstreamClient",
    "WireMessage",
]
