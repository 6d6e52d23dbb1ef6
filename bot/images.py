"""Image links in an image model's answer (pure: no I/O).

gpt-4o-image answers in markdown (the API docs' gpt-4o-image example,
../shared/seeds/): ``![file-…](image-url)`` for each image, then a
``[下载⏬](download-url)`` link to the same file. threadline posts the images
as files and shows the text around them without those links.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ImageLink", "find_image_links", "without_links"]

# ![alt](url): the url has no spaces or parentheses (the seed's links never do).
_IMAGE = re.compile(r"!\[(?P<alt>[^\]\n]*)\]\((?P<url>https?://[^\s()]+)\)")
# [label](url) that is not an image; a download link is one whose label says so
# ("下载" is "download") or whose url has a /download/ segment (the seed's shape).
_LINK = re.compile(r"(?<!!)\[(?P<label>[^\]\n]*)\]\((?P<url>https?://[^\s()]+)\)")
_DOWNLOAD_LABELS = ("下载", "download")


@dataclass(frozen=True, slots=True)
class ImageLink:
    """One generated image: where to fetch it, and the markdown that shows it."""

    alt: str
    url: str
    markdown: str
    download_markdown: str | None = None


def find_image_links(markdown: str) -> list[ImageLink]:
    """The images of an answer in order, each with the download link that follows it."""
    images = list(_IMAGE.finditer(markdown))
    links: list[ImageLink] = []
    for i, match in enumerate(images):
        end = images[i + 1].start() if i + 1 < len(images) else len(markdown)
        download = next(
            (m.group(0) for m in _LINK.finditer(markdown, match.end(), end) if _is_download(m)),
            None,
        )
        links.append(ImageLink(match["alt"], match["url"], match.group(0), download))
    return links


def without_links(markdown: str, links: list[ImageLink]) -> str:
    """``markdown`` with the given images' links removed and blank runs tidied."""
    text = markdown
    for link in links:
        text = text.replace(link.markdown, "", 1)
        if link.download_markdown is not None:
            text = text.replace(link.download_markdown, "", 1)
    lines = [line.rstrip() for line in text.split("\n")]
    tidy = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return tidy.strip()


def _is_download(match: re.Match[str]) -> bool:
    label = match["label"].lower()
    return any(word in label for word in _DOWNLOAD_LABELS) or "/download/" in match["url"]
