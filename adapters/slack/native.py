"""Slack's native text streaming as a ``ReplySink``, falling back to post + edit.

chat.startStream opens a message in a thread, chat.appendStream adds markdown
to it, chat.stopStream ends it (https://docs.slack.dev/reference/methods/chat.startStream
and siblings). What shapes this module:

- Text is markdown (``markdown_text``): it is sent as the model wrote it, never
  mrkdwn-rendered, except that no mention in it can ping (``mentions.inert``, held
  back at a piece's end by ``MentionGuard``); ``markdown_text`` takes 12,000 characters.
- startStream needs a ``thread_ts``, and in channels ``recipient_user_id`` and
  ``recipient_team_id``. A top-level DM answer therefore uses the fallback.
- Rate tiers: appendStream is Tier 4 (100+/min per app per workspace, shared by
  every answer: ``AppendPacer``, first words first), start and stop are Tier 2
  (https://docs.slack.dev/apis/web-api/rate-limits): a stop waits for its
  turn, and an answer that cannot start a stream now uses the fallback. Tokens
  are coalesced: one append per ``append_interval`` per answer at most.
- Slack ends a stream about five minutes after it started (appends do not extend
  it; then ``message_not_in_streaming_state``). An answer rolls over to a new
  message after ``rollover_after``; an ended stream or ``msg_too_long`` at any
  point also continues the answer in a new message, so no text is lost. A code
  block open at a rollover is closed and reopened in the next message.
- If startStream is refused (``unknown_method``, ``not_allowed_token_type``,
  ``missing_scope`` …) the answer goes out as ``StreamedReply`` (chat.postMessage +
  chat.update under the shared ``EditScheduler``), and later answers skip the
  native attempt. A rate-limited start falls back for that answer only.

Message ids returned by ``finish`` are ``"{channel}:{ts}"``, like
``Incoming.message_id``, so the store can find an answer from its messages.

The parts: ``NativeStreams`` here chooses the sink per answer; stream_limits.py
holds what a connection's streams share (options, the tiers' pacers);
native_reply.py is one streamed answer (``NativeReply``), stream_messages.py its
messages and Web API calls; fallback.py the post + edit sink (``FallbackReply``).
"""

from __future__ import annotations

from adapters.slack.fallback import FallbackReply
from adapters.slack.native_reply import NativeReply
from adapters.slack.stream_limits import ENDED_CODES, AppendPacer, StreamOptions, StreamShared
from adapters.slack.target import SlackTarget

__all__ = [
    "ENDED_CODES",
    "AppendPacer",
    "FallbackReply",
    "NativeReply",
    "NativeStreams",
    "StreamOptions",
]


class NativeStreams(StreamShared):
    """What native answers share on one connection, and the choice of sink per answer."""

    def reply(self, target: SlackTarget) -> NativeReply | FallbackReply:
        """A native stream in a thread while Slack allows them; else post + edit."""
        if self.available and target.place.thread_ts is not None:
            return NativeReply(self, target)
        return FallbackReply(target, self.scheduler)
