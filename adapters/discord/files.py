"""Bring a message's attachments in: check them, download them at once, or refuse.

Attachment URLs are signed and expire (``ex``/``is``/``hm`` query parameters,
https://discord.com/developers/docs/reference#signed-attachment-cdn-urls), so
the files are read while the message is fresh and stored as bytes, never as a
link to fetch later. Every attachment is checked from its metadata first (type,
size), so nothing is downloaded when one of them will be refused anyway.

Downloads go through ``bot.fetch.Downloader``: only from Discord's file hosts
(an attachment URL pointing anywhere else is refused unread), capped while read.

Images become ``bot.domain.Attachment`` (the service turns them into ``data:``
image parts); text files are returned decoded, to be inlined into the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot import wording
from bot.domain import Attachment
from bot.fetch import (
    Downloader,
    DownloadFailed,
    DownloadRefused,
    DownloadTooLarge,
    FileHosts,
)
from bot.files import FileKind, FileLimits, Files, decode_text, file_kind, sniff_image


class _Refused(Exception):
    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


def discord_downloader(api_base: str | None) -> Downloader:
    """Downloads from Discord's CDN, or from the configured API base's origin (a proxy,
    the loopback fake): no token is sent, the signed URL is the permission."""
    return Downloader(FileHosts.discord(api_base))


async def read_files(
    attachments: Sequence[discord.Attachment], limits: FileLimits, downloader: Downloader
) -> Files:
    """Download and check every attachment, or return the one sentence refusing them."""
    try:
        kinds = [_check(attachment, limits) for attachment in attachments]
        images: list[Attachment] = []
        texts: list[tuple[str, str]] = []
        for attachment, kind in zip(attachments, kinds, strict=True):
            limit = limits.max_image_bytes if kind is FileKind.IMAGE else limits.max_text_bytes
            data = await _download(attachment, limit, limits, downloader)
            if kind is FileKind.IMAGE:
                images.append(_image(attachment, data, limits))
            else:
                texts.append((attachment.filename, _text(attachment, data, limits)))
    except _Refused as refused:
        return Files(refusal=refused.sentence)
    return Files(tuple(images), tuple(texts))


def _check(attachment: discord.Attachment, limits: FileLimits) -> FileKind:
    kind = file_kind(attachment.filename, attachment.content_type)
    if kind is FileKind.UNSUPPORTED:
        raise _Refused(_sentence(attachment, "type", limits))
    limit = limits.max_image_bytes if kind is FileKind.IMAGE else limits.max_text_bytes
    if attachment.size > limit:
        raise _Refused(_sentence(attachment, "size", limits))
    return kind


async def _download(
    attachment: discord.Attachment, limit: int, limits: FileLimits, downloader: Downloader
) -> bytes:
    """The signed URL's bytes, read up to ``limit`` (never a 50 MB body to check after)."""
    try:
        downloaded = await downloader.download(attachment.url, limit)
    except DownloadRefused as refused:
        raise _Refused(wording.attachment_host_refused(attachment.filename, "discord")) from refused
    except DownloadTooLarge:
        raise _Refused(_sentence(attachment, "size", limits)) from None
    except DownloadFailed:
        raise _Refused(wording.attachment_unavailable(attachment.filename, "discord")) from None
    if downloaded.status != 200:
        raise _Refused(wording.attachment_unavailable(attachment.filename, "discord"))
    return downloaded.data


def _image(attachment: discord.Attachment, data: bytes, limits: FileLimits) -> Attachment:
    if len(data) > limits.max_image_bytes:
        raise _Refused(_sentence(attachment, "size", limits))
    actual = sniff_image(data)
    if actual is None:
        raise _Refused(_sentence(attachment, "image", limits))
    # The bytes decide the type: a JPEG named .png is still sent as what it is. The
    # signed URL is not kept: it expires, and it carries a signature.
    return Attachment(attachment.filename, actual, data)


def _text(attachment: discord.Attachment, data: bytes, limits: FileLimits) -> str:
    if len(data) > limits.max_text_bytes:
        raise _Refused(_sentence(attachment, "size", limits))
    text = decode_text(data)
    if text is None:
        raise _Refused(_sentence(attachment, "encoding", limits))
    return text


def _sentence(attachment: discord.Attachment, problem: str, limits: FileLimits) -> str:
    return wording.attachment_refused(
        attachment.filename, problem, limits.max_image_bytes, limits.max_text_bytes
    )
