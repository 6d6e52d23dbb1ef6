"""Image bytes: content-addressed files in a folder next to the database.

Why files and not SQLite blobs: a thread's turns stay small rows (a part holds
the reference ``image:sha256:<hex>.<ext>``, not megabytes of base64), the same
image sent twice is stored once, and eviction is deleting a file, with no
VACUUM. The folder has a total size cap (``IMAGES__STORE_MAX_BYTES``); past it
the least recently used images (by modification time, touched on every read)
are deleted. A turn whose image was evicted is still answered: the part is
left out and the model sees the words only.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from pathlib import Path

__all__ = ["REFERENCE_PREFIX", "ImageStore", "is_reference"]

REFERENCE_PREFIX = "image:sha256:"
_NAME = re.compile(r"^[0-9a-f]{64}\.(png|jpg|webp|gif)$")
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
_MIMES = {ext: mime for mime, ext in _EXTENSIONS.items()}


def is_reference(url: str) -> bool:
    return url.startswith(REFERENCE_PREFIX)


class ImageStore:
    def __init__(self, folder: Path, *, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes

    async def put(self, data: bytes, mime: str) -> str:
        """Store ``data``; return its reference (the same bytes give the same reference)."""
        return await asyncio.to_thread(self._put, data, mime)

    async def get(self, reference: str) -> tuple[bytes, str] | None:
        """The bytes and type of a stored image, or None when it was evicted."""
        return await asyncio.to_thread(self._get, reference)

    def _put(self, data: bytes, mime: str) -> str:
        name = f"{hashlib.sha256(data).hexdigest()}.{_EXTENSIONS[mime]}"
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / name
        if path.exists():
            os.utime(path)
        else:
            partial = path.with_suffix(".part")
            partial.write_bytes(data)
            os.replace(partial, path)  # readers never see half an image
            self._evict(keep=path)
        return REFERENCE_PREFIX + name

    def _get(self, reference: str) -> tuple[bytes, str] | None:
        name = reference.removeprefix(REFERENCE_PREFIX)
        if not _NAME.match(name):
            return None
        path = self.folder / name
        try:
            data = path.read_bytes()
            os.utime(path)  # recently used: evicted last
        except FileNotFoundError:
            return None
        return data, _MIMES[name.rsplit(".", 1)[1]]

    def _evict(self, *, keep: Path) -> None:
        files = []
        for path in self.folder.iterdir():
            if _NAME.match(path.name):
                stat = path.stat()
                files.append((stat.st_mtime_ns, path.name, stat.st_size, path))
        total = sum(size for _, _, size, _ in files)
        for _, _, size, path in sorted(files):
            if total <= self.max_bytes:
                return
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size
