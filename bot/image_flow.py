"""Images through one answer: checked on the way in, resolved for the wire, posted on the way out.

In: each image of a message is checked (count, size, type sniffed from its
bytes); it is kept as its platform URL when that URL needs no credentials and
stays valid long enough (``IMAGES__SEND_URLS``), else its bytes go to the
image store and the turn holds a reference. Without a store (unit tests) the
turn holds a ``data:`` URL, as before.

Wire (``route``, once per answer): the thread's newest images are kept, they
choose the route (a vision model when the chosen one cannot see), references
become ``data:`` URLs; a model that takes files rather than images
(gpt-4o-image) gets ``file_url`` parts, a vision model ``image_url``.

Out: an image model's answer is held back while it streams; its image links are
downloaded (``bot.fetch``), posted as files (``ReplySink.attach``), stored as the
answer's parts, and the text is shown without the links. A link that could not
be fetched or posted stays in the text, and one line says so.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot import wording
from bot.conversation import select_images
from bot.domain import ContentPart, FilePart, ImagePart, Incoming, TextPart, Turn
from bot.errors import InputError, ThreadlineError
from bot.fetch import Fetcher, sniff_image
from bot.images import ImageLink, find_image_links, without_links
from bot.models import ModelCatalog, Route
from bot.ports import ImageBlobs, ReplySink
from bot.settings import ImageSettings, ModelSpec

log = logging.getLogger(__name__)

REFERENCE_PREFIX = "image:sha256:"  # storage.ImageStore's references


@dataclass(frozen=True, slots=True)
class Delivered:
    """An image answer after its images were posted."""

    text: str
    parts: tuple[ContentPart, ...]
    failed: int


@dataclass(frozen=True, slots=True)
class Routed:
    """An answer's history and route, as its images decide them."""

    turns: tuple[Turn, ...]  # the newest images only, as the routed model takes them
    route: Route  # a vision model when the chosen one cannot see the images
    holds_answer: bool  # an image model's answer: shown once its images are posted


def is_image_attachment(mime: str) -> bool:
    return mime.startswith("image/")


class ImageFlow:
    def __init__(
        self,
        settings: ImageSettings | None = None,
        *,
        blobs: ImageBlobs | None = None,
        fetcher: Fetcher | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or ImageSettings()
        self._blobs = blobs
        self._fetcher = fetcher
        self._now = now

    @property
    def posts_images(self) -> bool:
        """Whether image answers are downloaded and posted (needs a fetcher)."""
        return self._fetcher is not None

    # -- in --------------------------------------------------------------------------

    def refusal(self, incoming: Incoming) -> str | None:
        """The sentence refusing this message's images, or None when they are fine."""
        images = [a for a in incoming.attachments if is_image_attachment(a.mime)]
        limit = self.settings.max_images_per_message
        if len(images) > limit:
            return wording.too_many_images(len(images), limit)
        for image in images:
            if image.size > self.settings.max_image_bytes:
                return wording.image_too_large(image.name, self.settings.max_image_bytes)
            if sniff_image(image.data) is None:
                return wording.image_format_unsupported(image.name)
        return None

    async def parts_for(self, incoming: Incoming) -> tuple[ContentPart, ...]:
        parts: list[ContentPart] = []
        for image in incoming.attachments:
            mime = sniff_image(image.data) if is_image_attachment(image.mime) else None
            if mime is None:
                continue
            lasts = image.public_until is not None and image.public_until - self._now() >= (
                self.settings.url_min_lifetime
            )
            if self.settings.send_urls and image.source_url and lasts:
                parts.append(ImagePart(image.source_url))
            elif self._blobs is not None:
                parts.append(ImagePart(await self._blobs.put(image.data, mime)))
            else:
                parts.append(ImagePart(data_url(mime, image.data)))
        return tuple(parts)

    # -- wire ------------------------------------------------------------------------

    async def route(self, history: tuple[Turn, ...], model: str, catalog: ModelCatalog) -> Routed:
        """Keep the newest ``context_images``, route by whether any are left, resolve
        them for the routed model. Raises ``InputError`` for an image model asked
        without an image."""
        turns = select_images(history, self.settings.context_images)
        has_images = any(not isinstance(p, TextPart) for turn in turns for p in turn.parts)
        route = catalog.route(model, has_images=has_images)
        spec = catalog.spec(route.model)
        if spec.image_input_required and not has_images:
            raise InputError(wording.image_model_needs_image(route.model))
        holds = self.posts_images and spec.image_output
        return Routed(await self.for_wire(turns, spec), route, holds)

    async def for_wire(self, turns: tuple[Turn, ...], spec: ModelSpec) -> tuple[Turn, ...]:
        """Resolve stored references and pick the part type the model takes."""
        as_files = spec.file_input and not spec.vision
        wired: list[Turn] = []
        for turn in turns:
            if not turn.parts:
                wired.append(turn)
                continue
            parts: list[ContentPart] = []
            for part in turn.parts:
                url = await self._resolve(part) if not isinstance(part, TextPart) else None
                if isinstance(part, TextPart):
                    parts.append(part)
                elif url is not None:
                    parts.append(FilePart(url) if as_files else ImagePart(url))
            wired.append(replace(turn, parts=tuple(parts)))
        return tuple(wired)

    async def _resolve(self, part: ImagePart | FilePart) -> str | None:
        if not part.url.startswith(REFERENCE_PREFIX):
            return part.url
        stored = await self._blobs.get(part.url) if self._blobs is not None else None
        if stored is None:
            log.info("image %s is no longer stored; sent without it", part.url)
            return None
        data, mime = stored
        return data_url(mime, data)

    # -- out -------------------------------------------------------------------------

    async def deliver(self, answer: str, sink: ReplySink) -> Delivered:
        """Post the images an answer links to; the text without the posted links."""
        links = find_image_links(answer)
        posted: list[ImageLink] = []
        parts: list[ContentPart] = []
        for link in links:
            part = await self._post(link, sink)
            if part is not None:
                posted.append(link)
                parts.append(part)
        return Delivered(without_links(answer, posted), tuple(parts), len(links) - len(posted))

    async def _post(self, link: ImageLink, sink: ReplySink) -> ContentPart | None:
        assert self._fetcher is not None
        try:
            image = await self._fetcher.fetch_image(link.url)
            await sink.attach(image.name, image.data, image.mime)
        except ThreadlineError as error:
            log.warning("image %s not posted: %s", link.url, error.user_message)
            return None
        if self._blobs is not None:
            return ImagePart(await self._blobs.put(image.data, image.mime))
        return ImagePart(link.url)


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"
