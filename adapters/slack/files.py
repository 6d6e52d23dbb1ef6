"""Bring a message's shared files in: check them, download them at once, or refuse.

A file object's ``url_private`` answers only with the bot token in an
``Authorization: Bearer`` header (scope ``files:read``;
https://docs.slack.dev/reference/objects/file-object). Without it, or without
the scope, Slack does not answer 401: it serves its HTML sign-in page with
status 200. So nothing about the response is trusted: an HTML page where a
file of another type was expected is refused, and an image's bytes are sniffed
(PNG, JPEG, WebP, GIF magic numbers) before they become an ``Attachment``.

Downloads go through ``bot.fetch.Downloader``: only to Slack's own hosts (a
``url_private`` pointing anywhere else is refused unread, and the token is never
sent there), capped while read.

Every file is checked from its metadata first (type, declared size), so nothing
is downloaded when one of them will be refused anyway; each download is capped
again while it is read. Files are read at once, while the message is fresh.
Images become ``bot.domain.Attachment`` (the core sends them as ``data:`` image
parts, to a vision model); text files are returned decoded, to be inlined into
the prompt fenced under their name (``with_files``). Anything else is refused
with one sentence saying what is supported.

The rules are ``adapters.discord.files``'s; its small pure helpers are repeated
here so that a Slack-only deployment never imports discord.py.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from adapters.slack.translate import SlackFile
from bot import wording
from bot.domain import Attachment
from bot.fetch import (
    Downloader,
    DownloadFailed,
    DownloadRefused,
    DownloadTooLarge,
    FileHosts,
)
from bot.files import (
    FileKind,
    FileLimits,
    Files,
    declared_type,
    decode_text,
    file_kind,
    sniff_image,
)

__all__ = ["FileReader", "slack_downloader"]

log = logging.getLogger(__name__)


def slack_downloader(bot_token: str, api_url: str) -> Downloader:
    """Downloads with the bot token, from Slack's hosts or the configured Web API's
    origin (``SLACK__API_URL``: a proxy, the loopback fake), which has the token anyway."""
    return Downloader(FileHosts.slack(api_url), headers={"Authorization": f"Bearer {bot_token}"})


class _Refused(Exception):
    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


class FileReader:
    """Downloads ``url_private`` files with the bot token (``slack_downloader``)."""

    def __init__(self, downloader: Downloader, limits: FileLimits) -> None:
        self._downloader = downloader
        self._limits = limits

    async def read(self, files: Sequence[SlackFile]) -> Files:
        """Download and check every file, or return the one sentence refusing them."""
        try:
            kinds = [self._check(file) for file in files]
            images: list[Attachment] = []
            texts: list[tuple[str, str]] = []
            for file, kind in zip(files, kinds, strict=True):
                if kind is FileKind.IMAGE:
                    data = await self._download(file, self._limits.max_image_bytes)
                    images.append(self._image(file, data))
                else:
                    data = await self._download(file, self._limits.max_text_bytes)
                    texts.append((file.name, self._text(file, data)))
        except _Refused as refused:
            return Files(refusal=refused.sentence)
        return Files(tuple(images), tuple(texts))

    def _check(self, file: SlackFile) -> FileKind:
        kind = file_kind(file.name, file.mimetype)
        if kind is FileKind.UNSUPPORTED:
            raise self._refused(file, "type")
        if file.size > self._limit(kind):
            raise self._refused(file, "size")
        return kind

    def _limit(self, kind: FileKind) -> int:
        if kind is FileKind.IMAGE:
            return self._limits.max_image_bytes
        return self._limits.max_text_bytes

    async def _download(self, file: SlackFile, limit: int) -> bytes:
        """The file's bytes, at most ``limit`` of them; Slack's sign-in page is refused."""
        try:
            downloaded = await self._downloader.download(file.url, limit)
        except DownloadRefused:
            raise _Refused(wording.attachment_host_refused(file.name, "slack")) from None
        except DownloadTooLarge:
            raise self._refused(file, "size") from None
        except DownloadFailed:
            raise _Refused(wording.attachment_unavailable(file.name, "slack")) from None
        if downloaded.status != 200 or _is_sign_in_page(downloaded.content_type, file):
            log.warning(
                "Slack refused the download of %s (HTTP %s, %s): is files:read granted?",
                file.id,
                downloaded.status,
                downloaded.content_type,
            )
            raise _Refused(wording.attachment_unavailable(file.name, "slack"))
        return downloaded.data

    def _image(self, file: SlackFile, data: bytes) -> Attachment:
        actual = sniff_image(data)
        if actual is None:
            raise self._refused(file, "image")
        # The bytes decide the type: a JPEG named .png is sent as what it is. The
        # url_private is not kept: it is useless without the bot token.
        return Attachment(file.name, actual, data)

    def _text(self, file: SlackFile, data: bytes) -> str:
        text = decode_text(data)
        if text is None:
            raise self._refused(file, "encoding")
        return text

    def _refused(self, file: SlackFile, problem: str) -> _Refused:
        limits = self._limits
        return _Refused(
            wording.attachment_refused(
                file.name, problem, limits.max_image_bytes, limits.max_text_bytes
            )
        )


def _is_sign_in_page(content_type: str, file: SlackFile) -> bool:
    """HTML where the file is not HTML: Slack's answer to a missing token or scope."""
    return content_type == "text/html" and declared_type(file.name, file.mimetype) != "text/html"


# -- pure helpers --------------------------------------------------------------------
