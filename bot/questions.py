"""A question as it is stored (``user_turn``) and a stored one as it came (``asked``)."""

from __future__ import annotations

from bot.conversation import estimate_tokens
from bot.domain import ContentPart, ImagePart, Incoming, Role, ThreadKey, Turn, TurnStatus
from bot.image_flow import data_url

__all__ = ["IMAGE_MIMES", "asked", "data_url", "user_turn"]

IMAGE_MIMES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})


def asked(key: ThreadKey, question: Turn) -> Incoming:
    """A stored question as the ``Incoming`` it came as, to answer it again (its images
    are in the stored turn, which the history brings in)."""
    return Incoming(
        key=key,
        message_id=question.platform_message_id or f"turn:{question.id}",
        author_id=question.author_id,
        author_name=question.author_name,
        text=question.text,
    )


def user_turn(
    incoming: Incoming,
    parts: tuple[ContentPart, ...] | None = None,
    *,
    status: TurnStatus = TurnStatus.COMPLETE,
) -> Turn:
    """The stored form of a message; ``parts`` default to its images as ``data:`` URLs.

    ``status``: ``pending`` for a question to answer; ``complete`` for context only.
    """
    if parts is None:
        parts = tuple(
            ImagePart(data_url(a.mime, a.data))
            for a in incoming.attachments
            if a.mime in IMAGE_MIMES
        )
    return Turn(
        role=Role.USER,
        text=incoming.text,
        author_id=incoming.author_id,
        author_name=incoming.author_name,
        parts=tuple(parts),
        platform_message_id=incoming.message_id,
        status=status,
        tokens=estimate_tokens(incoming.text, parts),
    )
