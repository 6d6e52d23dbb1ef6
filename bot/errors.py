"""The error tree. Every error carries the sentence a chat user sees.

    ThreadlineError                 .user_message: what happened and what to do
    ├── ConfigError                 start-up stops with this sentence
    ├── InputError                  a request threadline refuses before calling anyone
    │   └── AttachmentError         an attachment of the wrong kind or size
    ├── UpstreamError               .status .code .trace_id .retryable
    │   ├── UpstreamAuthError       401 invalid_token
    │   ├── UpstreamBadRequest      400 token_mismatched / api_not_implemented / other 4xx
    │   ├── UpstreamRateLimited     429 too_many_requests (.retry_after)
    │   ├── UpstreamServerError     5xx api_error
    │   ├── UpstreamUnavailable     refused or closed connection, connect or first-token timeout
    │   ├── UpstreamProtocolError   a body or chunk that is not the documented JSON
    │   └── UpstreamTruncated       the stream stopped before [DONE] or a finish reason
    ├── PlatformRateLimited         a platform 429 (.retry_after, .bucket, .is_global)
    └── CoordinationUnavailable     the shared Redis did not answer (several workers)

Errors are translated at the boundary where they arise (httpx errors in
``bot.upstream``, platform errors in the adapters); the core sees only these.
"""

from __future__ import annotations

from collections.abc import Callable

from bot import wording


class ThreadlineError(Exception):
    """Base of every error threadline raises on purpose."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class ConfigError(ThreadlineError):
    pass


class InputError(ThreadlineError):
    pass


class AttachmentError(InputError):
    pass


class UpstreamError(ThreadlineError):
    """A failed call to the chat-completion API.

    ``code`` is the API's error code (``invalid_token``, ``api_error`` …) or one of
    threadline's own (``timeout``, ``connect_failed``, ``bad_response``, ``truncated``).
    """

    retryable_by_default = False

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str = "api_error",
        trace_id: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.detail = detail
        self.status = status
        self.code = code
        self.trace_id = trace_id
        self.retryable = self.retryable_by_default if retryable is None else retryable
        super().__init__(self._sentence())

    def redact(self, redact: Callable[[str], str]) -> UpstreamError:
        """This error with ``redact`` applied to everything the server said (detail,
        code, trace id), and its sentence made again from what is left."""
        self.detail = redact(self.detail)
        self.code = redact(self.code)
        self.trace_id = redact(self.trace_id) if self.trace_id else self.trace_id
        self.user_message = self._sentence()
        self.args = (self.user_message,)
        return self

    def _sentence(self) -> str:
        url = self.detail if self.code == "no_chat_completions" else ""
        return wording.upstream_error(type(self).__name__, self.code, self.trace_id, url=url)

    def __str__(self) -> str:
        where = f"HTTP {self.status} " if self.status else ""
        trace = f" trace_id={self.trace_id}" if self.trace_id else ""
        return f"{where}{self.code}: {self.detail}{trace}"


class UpstreamAuthError(UpstreamError):
    pass


class UpstreamBadRequest(UpstreamError):
    pass


class UpstreamRateLimited(UpstreamError):
    retryable_by_default = True

    def __init__(self, detail: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(detail, **kwargs)  # type: ignore[arg-type]


class UpstreamServerError(UpstreamError):
    retryable_by_default = True


class UpstreamUnavailable(UpstreamError):
    retryable_by_default = True


class UpstreamProtocolError(UpstreamError):
    pass


class UpstreamTruncated(UpstreamError):
    pass


class PlatformRateLimited(ThreadlineError):
    """A platform answered 429; the edit scheduler pauses ``bucket`` for ``retry_after``."""

    def __init__(self, retry_after: float, *, bucket: str = "", is_global: bool = False) -> None:
        self.retry_after = retry_after
        self.bucket = bucket
        self.is_global = is_global
        super().__init__(wording.platform_busy(retry_after))


class PlatformError(ThreadlineError):
    """A chat platform refused a request (other than a 429); ``code`` is its error code.

    Slack answers HTTP 200 with ``{"ok": false, "error": code}``
    (https://docs.slack.dev/apis/web-api/#responses); ``connection_failed`` is
    threadline's own code for a platform that could not be reached.
    """

    def __init__(self, user_message: str, *, code: str = "") -> None:
        self.code = code
        super().__init__(user_message)


class NotDelivered(PlatformError):
    """An answer's final text did not reach the platform (every try failed).

    ``message_ids`` are the messages that exist (they show an earlier text or a
    placeholder); the answer is stored ``pending`` delivery and tried again.
    """

    def __init__(self, message_ids: tuple[str, ...], *, code: str = "not_delivered") -> None:
        self.message_ids = message_ids
        super().__init__(wording.answer_not_shown(), code=code)


class StorageUnavailable(ThreadlineError):
    """The database would not take a write: locked by another process past the busy
    timeout, full, read-only or failing. Nothing was stored; the user is told."""

    def __init__(self, reason: str) -> None:
        self.reason = reason  # SQLite's error name, for the log (no message content)
        super().__init__(wording.cannot_save())


class CoordinationUnavailable(ThreadlineError):
    """The shared coordination server (Redis) failed a call: several workers cannot
    agree right now. Nothing was counted or taken; the user is told."""

    def __init__(self, reason: str) -> None:
        self.reason = reason  # the client's error name, for the log
        super().__init__(wording.coordination_unavailable())
