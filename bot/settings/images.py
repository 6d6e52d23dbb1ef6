"""``IMAGES__*``: how large, how many, where image bytes are kept and saved."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from bot.settings.fields import Bytes, Seconds


class ImageSettings(BaseModel):
    """Images in and out (``IMAGES__*``); the vision and image models are in ``UPSTREAM__``."""

    # Largest image read or downloaded; as base64 (x4/3) 10 MiB stays under OpenAI's
    # 20 MB per-image limit (https://platform.openai.com/docs/guides/images-vision).
    max_image_bytes: Bytes = 10 * 1024 * 1024
    # Most images one message may carry.
    max_images_per_message: int = Field(default=4, ge=0)
    # The newest images of a thread sent with each answer ("make the hat red").
    context_images: int = Field(default=4, ge=0)
    # Send an image as its platform URL (not a data: URL) when the URL needs no
    # credentials and stays valid at least ``url_min_lifetime`` more seconds.
    send_urls: bool = True
    url_min_lifetime: float = Field(default=3_600.0, ge=0)
    # Seconds for one whole download (connect, headers and body).
    fetch_timeout: Seconds = 20.0
    # Fetch links to private, loopback, link-local and reserved addresses (tests only).
    allow_private_addresses: bool = False
    # Image bytes live in content-addressed files here (default: ``<database>.images``).
    store_dir: Path | None = None
    # Total size of that folder; the least recently used images are evicted past it.
    store_max_bytes: Bytes = 512 * 1024 * 1024
    # Where ``threadline ask`` and ``chat`` save the images a model makes.
    output_dir: Path = Path("threadline-images")
