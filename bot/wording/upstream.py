"""The model service's failures, in our words: the code and trace id, never the
server's own message."""

from __future__ import annotations

_UPSTREAM_BY_CODE = {
    "invalid_token": (
        "The model service rejected threadline's API key (invalid_token). "
        "An operator needs to check OPENAI_API_KEY."
    ),
    "token_mismatched": (
        "The model service refused the request (token_mismatched): the API key does not "
        "match this model or endpoint. An operator needs to check OPENAI_API_KEY and the model."
    ),
    "api_not_implemented": (
        "The model service does not offer this model or feature (api_not_implemented). "
        "Try another model with /model."
    ),
    "too_many_requests": (
        "The model service is rate limiting threadline (too_many_requests). "
        "Please try again in a minute."
    ),
    "api_error": "The model service had an internal error (api_error). Please try again.",
    "timeout": "The model service did not answer in time. Please try again.",
    "connect_failed": (
        "threadline could not reach the model service. Please try again; "
        "if it keeps happening, an operator needs to check OPENAI_BASE_URL."
    ),
    "bad_response": (
        "The model service sent a response threadline could not read. Please try again; "
        "if it keeps happening, an operator needs to check OPENAI_BASE_URL."
    ),
    "truncated": (
        "The model service stopped in the middle of the answer. "
        "What arrived is shown above; ask again to get the rest."
    ),
    "connection_closed": (
        "The model service closed the connection before answering. Please try again; "
        "if it keeps happening, an operator needs to check OPENAI_BASE_URL."
    ),
}


def upstream_error(kind: str, code: str, trace_id: str | None, *, url: str = "") -> str:
    """The chat-visible sentence for a failed upstream call: ours, with the code and trace id.

    The server's own message is never shown (it may quote the API key, masked or
    not); it goes to the log. ``url`` is the endpoint tried (our own setting, without
    credentials), shown only when the endpoint itself is missing. A code or trace id that is not a short plain token is not
    shown either: they come from the server too.
    """
    shown = _plain_token(code) or "unknown_error"
    sentence = _UPSTREAM_BY_CODE.get(shown)
    if shown == "no_chat_completions":  # url: the one tried, our own setting without credentials
        sentence = no_chat_completions(url)
    elif sentence is None:
        if kind == "UpstreamAuthError":  # OpenAI's invalid_api_key, a proxy's own code
            sentence = (
                f"The model service rejected threadline's API key ({shown}). "
                "An operator needs to check OPENAI_API_KEY."
            )
        elif kind == "UpstreamBadRequest":
            sentence = (
                f"The model service refused the request ({shown}). Please try again; if it "
                "keeps happening, an operator can find the service's reason in the log."
            )
        else:
            sentence = f"The model service failed ({shown}). Please try again."
    trace = _plain_token(trace_id or "")
    if trace:
        sentence += f" (trace id: {trace})"
    return sentence


def no_chat_completions(url: str) -> str:
    """A 404 for the endpoint itself: the base URL is wrong, trying again will not help."""
    return (
        f"The model service has no chat completions at {url} (HTTP 404). An operator needs to "
        "check OPENAI_BASE_URL: it should end before /chat/completions, usually in /v1 "
        "(https://api.openai.com/v1)."
    )


def _plain_token(value: str) -> str:
    """``value`` if it looks like an error code or trace id (letters, digits, ``_.:-``,
    at most 64 characters), else ""."""
    if 0 < len(value) <= 64 and all(c.isascii() and (c.isalnum() or c in "_.:-") for c in value):
        return value
    return ""
