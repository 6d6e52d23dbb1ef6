"""Files people attach to a question, the same on every platform.

What a file is (image, text, unsupported) is decided from its metadata before
it is downloaded, and images are checked again by their bytes after: a file
that only claims to be an image, or an HTML sign-in page served instead of the
file, is refused with a sentence rather than sent to a model that would refuse
it less helpfully. Adapters download; this module decides and formats.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.domain import Attachment


@dataclass(frozen=True, slots=True)
class FileLimits:
    max_image_bytes: int
    max_text_bytes: int


@dataclass(frozen=True, slots=True)
class Files:
    """What a message brought: images, text files (name, text), or the reason to refuse."""

    images: tuple[Attachment, ...] = ()
    texts: tuple[tuple[str, str], ...] = ()
    refusal: str | None = None


class FileKind(StrEnum):
    IMAGE = "image"
    TEXT = "text"
    UNSUPPORTED = "unsupported"


# The formats the vision models accept (https://platform.openai.com/docs/guides/images-vision).
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
# Text a user attaches to a question: code, logs, data, markup. Discord labels many
# of these application/octet-stream, so the extension decides too.
TEXT_EXTENSIONS = frozenset(
    """txt text md markdown rst adoc log out err csv tsv json jsonl ndjson yaml yml toml ini
    cfg conf env properties xml html htm css scss js mjs cjs ts tsx jsx py pyi rb go rs java
    kt kts scala c h cc cpp cxx hpp cs swift m php pl lua r sql sh bash zsh fish ps1 bat dart
    ex exs erl hs ml clj lisp vue svelte tf hcl gradle diff patch proto graphql cmake""".split()  # noqa: SIM905
)
TEXT_NAMES = frozenset({"dockerfile", "makefile", "readme", "license", "procfile"})
TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "application/javascript",
        "application/x-sh",
        "application/sql",
    }
)


def declared_type(filename: str, content_type: str | None) -> str:
    """The attachment's MIME type without parameters; guessed from the name when absent."""
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def file_kind(filename: str, content_type: str | None) -> FileKind:
    """Image, text or unsupported, from the attachment's metadata (before downloading)."""
    mime = declared_type(filename, content_type)
    if mime in IMAGE_TYPES:
        return FileKind.IMAGE
    lowered = filename.lower()
    extension = lowered.rsplit(".", 1)[-1] if "." in lowered else ""
    if (
        mime.startswith("text/")
        or mime in TEXT_TYPES
        or extension in TEXT_EXTENSIONS
        or lowered in TEXT_NAMES
    ):
        return FileKind.TEXT
    return FileKind.UNSUPPORTED


def sniff_image(data: bytes) -> str | None:
    """The image type the bytes really are (magic numbers), or None.

    PNG: 89 50 4E 47 0D 0A 1A 0A; JPEG: FF D8 FF; GIF: "GIF87a"/"GIF89a";
    WebP: "RIFF" <size> "WEBP". A file that only claims to be an image would be
    refused by the model with a less helpful error.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def decode_text(data: bytes) -> str | None:
    """UTF-8 text (a BOM is dropped), or None for bytes that are not text."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def with_files(prompt: str, files: Sequence[tuple[str, str]]) -> str:
    """The prompt followed by each text file, fenced, so the model sees the file's name.

    The fence is longer than any run of backticks inside the file (CommonMark's
    rule for fenced code), so a file that contains fences stays one block.
    """
    blocks = [prompt] if prompt else []
    for name, text in files:
        longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
        fence = "`" * max(3, longest + 1)
        language = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        blocks.append(f"{name}:\n{fence}{language}\n{text.rstrip()}\n{fence}")
    return "\n\n".join(blocks)
