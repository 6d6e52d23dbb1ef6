"""A thread's stored turns become the API's ``messages``.

Token estimate (offline, no tokenizer download): a turn costs
``ceil(UTF-8 bytes / 4) + 4`` tokens, and an image ``IMAGE_TOKENS`` more. Four
bytes a token is OpenAI's published rule of thumb for English; counting bytes
rather than characters keeps CJK text (3 bytes, about one token a character)
from being underestimated by a factor of four. The estimate is computed once
when a turn is stored (``Turn.tokens``), so budgeting a long thread is a sum.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot import wording
from bot.domain import ContentPart, FilePart, HistoryWindow, ImagePart, Role, TextPart, Turn
from bot.upstream.types import WireMessage

MESSAGE_OVERHEAD_TOKENS = 4
# A 512x512 tile at high detail costs 170 tokens + 85 base; a typical chat image
# (up to 1024x1024) is four tiles: 765 (OpenAI's vision pricing guide).
IMAGE_TOKENS = 765
SEVERAL_PEOPLE_NOTE = (
    "Several people are talking in this thread; each of their messages starts with "
    "the author's name and a colon."
)


def estimate_tokens(text: str, parts: Sequence[ContentPart] = ()) -> int:
    images = sum(1 for part in parts if not isinstance(part, TextPart))
    return -(-len(text.encode()) // 4) + MESSAGE_OVERHEAD_TOKENS + images * IMAGE_TOKENS


def system_prompt(template: str, *, today: dt.date, several_people: bool) -> str:
    """The configured prompt with ``{date}`` filled in (other braces are left alone)."""
    prompt = template.replace("{date}", today.isoformat())
    return f"{prompt}\n\n{SEVERAL_PEOPLE_NOTE}" if several_people else prompt


@dataclass(frozen=True, slots=True)
class Context:
    """What one answer is built from."""

    messages: tuple[WireMessage, ...]
    used_turns: int
    omitted: int
    has_images: bool
    # The prompt's size as ``estimate_tokens`` counts it: the usage recorded for
    # an answer whose stream reports none (the daily quotas need a figure).
    estimated_tokens: int = 0
    # The question alone did not fit the budget: bytes of its text that were sent
    # (the rest was cut, and the user is told), else None.
    question_cut_to: int | None = None


def build_messages(
    window: HistoryWindow, *, template: str, today: dt.date, budget: int | None = None
) -> Context:
    """The messages for one answer. ``budget``: the tokens the turns may take; the
    store keeps the newest turn whatever its size, so a question (with its inlined
    files) larger than the budget is cut here, and ``question_cut_to`` says so."""
    turns, cut_to = fit_question(window.turns, budget)
    several = len({t.author_id for t in turns if t.role is Role.USER}) > 1
    system = system_prompt(template, today=today, several_people=several)
    messages: list[WireMessage] = [{"role": "system", "content": system}]
    has_images = False
    for turn in turns:
        messages.append(_wire(turn, named=several))
        has_images = has_images or any(isinstance(p, ImagePart | FilePart) for p in turn.parts)
    estimated = estimate_tokens(system) + sum(turn.tokens for turn in turns)
    return Context(tuple(messages), len(turns), window.omitted, has_images, estimated, cut_to)


def fit_question(
    turns: tuple[Turn, ...], budget: int | None
) -> tuple[tuple[Turn, ...], int | None]:
    """The turns with the last one, a user's question over ``budget``, cut to fit (its
    images kept), and how many bytes of its text were kept; else as they were."""
    if budget is None or not turns or turns[-1].role is not Role.USER:
        return turns, None
    question = turns[-1]
    if estimate_tokens(question.text, question.parts) <= budget:
        return turns, None
    marker = "\n\n" + wording.question_cut_marker()
    images = sum(1 for part in question.parts if not isinstance(part, TextPart))
    room = (budget - MESSAGE_OVERHEAD_TOKENS - images * IMAGE_TOKENS) * 4 - len(marker.encode())
    kept = question.text.encode()[: max(room, 0)].decode(errors="ignore")
    text = kept + marker
    cut = replace(question, text=text, tokens=estimate_tokens(text, question.parts))
    return (*turns[:-1], cut), len(kept.encode())


def _wire(turn: Turn, *, named: bool) -> WireMessage:
    text = turn.text
    if named and turn.role is Role.USER and turn.author_name:
        text = f"{turn.author_name}: {text}"
    if not turn.parts:
        return {"role": turn.role.value, "content": text}
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content.extend(_wire_part(part) for part in turn.parts)
    return {"role": turn.role.value, "content": content}


def _wire_part(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, ImagePart):
        return {"type": "image_url", "image_url": {"url": part.url}}
    if isinstance(part, FilePart):
        return {"type": "file_url", "file_url": {"url": part.url}}
    return {"type": "text", "text": part.text}


def select_images(turns: Sequence[Turn], keep: int) -> tuple[Turn, ...]:
    """The turns with only the thread's newest ``keep`` images, so older ones cost nothing.

    Images an answer made (parts of assistant turns) go with the newest user turn:
    the API takes images in user messages only, and "make the hat red" is about them.
    """
    remaining = keep
    kept: list[Turn] = []
    made: list[ContentPart] = []
    for turn in reversed(turns):
        images = [p for p in turn.parts if not isinstance(p, TextPart)]
        chosen = images[max(len(images) - remaining, 0) :] if remaining > 0 else []
        remaining -= len(chosen)
        others = tuple(p for p in turn.parts if isinstance(p, TextPart))
        if turn.role is Role.ASSISTANT:
            made[:0] = chosen
            chosen = []
        kept.append(replace(turn, parts=(*others, *chosen)) if images else turn)
    kept.reverse()
    if made:
        newest_user = max((i for i, t in enumerate(kept) if t.role is Role.USER), default=None)
        if newest_user is not None:
            turn = kept[newest_user]
            kept[newest_user] = replace(turn, parts=(*turn.parts, *made))
    return tuple(kept)
