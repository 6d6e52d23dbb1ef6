"""The model catalog: what each configured model can do, and which one answers.

Capabilities come from configuration (``UPSTREAM__MODELS``) with defaults for the
families in the API docs; a name the catalog does not know is treated as a
plain text model rather than guessed at from its spelling.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import wording
from bot.settings import ModelSpec, UpstreamSettings


@dataclass(frozen=True, slots=True)
class Route:
    """The model that answers, and why it is not the one the thread asked for."""

    model: str
    switched_because: str | None = None


class ModelCatalog:
    def __init__(self, settings: UpstreamSettings) -> None:
        self._specs = dict(settings.models)
        self.default_model = settings.default_model
        self.vision_model = settings.vision_model
        self.image_model = settings.image_model

    def spec(self, name: str) -> ModelSpec:
        return self._specs.get(name) or ModelSpec()

    def names(self) -> list[str]:
        return sorted(self._specs)

    def knows(self, name: str) -> bool:
        return name in self._specs

    def route(self, requested: str | None, *, has_images: bool) -> Route:
        """Pick the model for one answer: the thread's, or a vision model for images."""
        model = requested or self.default_model
        if has_images and not (self.spec(model).vision or self.spec(model).file_input):
            return Route(self.vision_model, wording.image_for_vision(model))
        return Route(model)
