"""Prepare one answer: its model and route, its images, its context, its request.

The thread's settings (its own, else its channel's), the question's own choices
and the defaults give the model, system prompt and parameters; the history fits
the context budget; images in it choose the route (a vision model when the
chosen one cannot see) and are resolved to what that model takes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.conversation import Context, build_messages, estimate_tokens
from bot.domain import ConversationSettings, HistoryWindow, Incoming, ThreadKey, Turn
from bot.image_flow import ImageFlow
from bot.json_answers import with_json_instruction
from bot.models import ModelCatalog, Route
from bot.params import ParamsDesk, wire_format
from bot.ports import ConversationStore
from bot.settings import ConversationLimits
from bot.upstream.types import ChatRequest

__all__ = ["Prepared", "Preparer"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """What one answer is asked with."""

    context: Context
    route: Route
    request: ChatRequest
    holds_answer: bool  # an image model's answer: shown once its images are posted


class Preparer:
    """Builds the request for a stored question (``prepare``)."""

    def __init__(
        self,
        *,
        store: ConversationStore,
        catalog: ModelCatalog,
        limits: ConversationLimits,
        images: ImageFlow,
        params: ParamsDesk,
        settings_for: Callable[[ThreadKey], Awaitable[ConversationSettings]],
        today: Callable[[], dt.date],
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._limits = limits
        self._images = images
        self._params = params
        self._settings_for = settings_for
        self._today = today

    async def prepare(self, incoming: Incoming, question: Turn) -> Prepared:
        """Raises ``ThreadlineError`` for what cannot be asked (e.g. a stored temperature
        the API refuses, an image model without an image)."""
        settings = await self._settings_for(incoming.key)
        model = incoming.model or settings.model or self._catalog.default_model
        template = incoming.system_prompt or settings.system_prompt or self._limits.system_prompt
        params = self._params.resolve(settings, incoming.params, model)
        if params.json:
            template = with_json_instruction(template)
        max_tokens = params.max_tokens
        budget = min(
            self._limits.context_tokens,
            self._catalog.spec(model).context_tokens - (max_tokens or 1024),
        ) - estimate_tokens(template)
        window = await self._store.history(
            incoming.key,
            token_budget=max(budget, 1),
            max_turns=self._limits.max_history_turns,
            through=question.id,
        )
        routed = await self._images.route(window.turns, model, self._catalog)
        route = routed.route
        context = build_messages(
            HistoryWindow(routed.turns, window.omitted),
            template=template,
            today=self._today(),
            budget=max(budget, 1),
        )
        request = ChatRequest(
            model=route.model,
            messages=context.messages,
            max_tokens=max_tokens,
            temperature=params.temperature,
            n=params.n if params.n > 1 else None,
            response_format=wire_format(params.response_format),
        )
        return Prepared(context, route, request, routed.holds_answer)
