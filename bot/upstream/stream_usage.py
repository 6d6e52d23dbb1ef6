"""Asking a stream for its usage: ``stream_options: {"include_usage": true}``.

OpenAI sends a streamed answer's usage only when asked this way, in a last chunk
with empty ``choices`` (https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options).
The documented API (../shared/seeds) does not mention the field; compatible
servers take it, ignore it, or refuse the request (400/422 for an unknown field).
So it is asked for, and what each base URL does is remembered:

- a 400/422 naming ``stream_options`` (OpenAI-compatible servers name the field
  they do not take: "Unrecognized request argument supplied: stream_options",
  vLLM's "extra_forbidden") is asked again without it; accepted then, the base URL
  is marked ``refuses`` and it is never sent there again. Any other 400 is the
  request's own fault and costs no second request;
- a finished stream that carried it but no usage marks it ``ignores`` (asked still:
  it costs nothing, and the answer's usage is then estimated);
- a stream that reported usage marks it ``honours``.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from bot.errors import UpstreamError

log = logging.getLogger(__name__)

INCLUDE_USAGE: dict[str, Any] = {"include_usage": True}


def refuses_stream_options(error: UpstreamError) -> bool:
    """Is this the refusal of the ``stream_options`` field itself?"""
    return error.status in (400, 422) and "stream_options" in error.detail.lower()


class Support(StrEnum):
    UNKNOWN = "unknown"
    HONOURS = "honours"
    IGNORES = "ignores"
    REFUSES = "refuses"


class StreamUsage:
    """What each base URL did with ``stream_options`` (in memory, per process)."""

    def __init__(self) -> None:
        self._seen: dict[str, Support] = {}

    def support(self, base_url: str) -> Support:
        return self._seen.get(base_url, Support.UNKNOWN)

    def ask(self, base_url: str) -> bool:
        """Send ``stream_options`` to this base URL?"""
        return self.support(base_url) is not Support.REFUSES

    def refused(self, base_url: str) -> None:
        log.info("%s refuses stream_options: streams there carry estimated usage", base_url)
        self._seen[base_url] = Support.REFUSES

    def finished(self, base_url: str, *, reported: bool) -> None:
        if self.support(base_url) is Support.REFUSES:
            return
        self._seen[base_url] = Support.HONOURS if reported else Support.IGNORES
