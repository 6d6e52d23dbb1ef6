"""``UPSTREAM__*``: the chat-completion API, its timeouts and the model catalog."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from bot.settings.fields import Count, Seconds, Secret, Url


class ModelSpec(BaseModel):
    """What a model can do. Capabilities are declared, never guessed from the name."""

    vision: bool = False
    image_output: bool = False
    browsing: bool = False
    file_input: bool = False
    # The model cannot answer without an input image (an "edit only" image model).
    image_input_required: bool = False
    context_tokens: Count = 8_192


def _default_models() -> dict[str, ModelSpec]:
    # The families in the API docs (../shared/seeds): text, vision, browsing, image.
    return {
        "gpt-3.5-turbo": ModelSpec(context_tokens=16_385),
        "gpt-4": ModelSpec(context_tokens=8_192),
        "gpt-4-turbo": ModelSpec(vision=True, context_tokens=128_000),
        "gpt-4o": ModelSpec(vision=True, context_tokens=128_000),
        "gpt-4o-mini": ModelSpec(vision=True, context_tokens=128_000),
        "gpt-3.5-browsing": ModelSpec(browsing=True, context_tokens=16_385),
        "gpt-4-browsing": ModelSpec(browsing=True, context_tokens=8_192),
        "gpt-4o-image": ModelSpec(image_output=True, file_input=True, context_tokens=128_000),
    }


class UpstreamSettings(BaseModel):
    base_url: Url = "https://api.openai.com/v1"
    api_key: Secret | None = None
    default_model: str = Field(default="gpt-4o-mini", min_length=1)
    vision_model: str = Field(default="gpt-4o", min_length=1)
    image_model: str = Field(default="gpt-4o-image", min_length=1)
    max_tokens: Count | None = None
    temperature: float | None = None
    timeout_connect: Seconds = 10.0
    timeout_first_token: Seconds = 60.0
    timeout_idle: Seconds = 60.0
    # Tries in all (1: no retry).
    retry_attempts: int = Field(default=3, ge=1, le=20)
    retry_max_seconds: float = Field(default=30.0, ge=0)
    # How httpx talks HTTP: "aiohttp" (httpx-aiohttp: aiohttp's C parser, several
    # times cheaper per streamed chunk, see bench/e2e.py) or "httpcore" (httpx's own).
    http_transport: Literal["aiohttp", "httpcore"] = "aiohttp"
    # After the first text, a slow stream is read at most this often (seconds); what
    # arrives meanwhile waits in the socket and comes as one piece (bot/upstream/client.py).
    read_interval: float = Field(default=0.5, ge=0, le=2)
    models: dict[str, ModelSpec] = Field(default_factory=_default_models)

    @field_validator("base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        # httpx/aiohttp refuse a URL's user:password@ next to the Bearer header (a
        # traceback at the first question), and the URL is shown in `check` and logs.
        if "@" in urlsplit(value).netloc:
            raise ValueError(
                "must not carry a user name or password (user:password@); put the key in "
                "OPENAI_API_KEY and give the URL without credentials"
            )
        return value.rstrip("/")

    @field_validator("temperature")
    @classmethod
    def _temperature_in_range(cls, value: float | None) -> float | None:
        if value is not None and not 0 <= value <= 2:
            raise ValueError("must be between 0 and 2")
        return value
