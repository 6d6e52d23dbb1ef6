"""Safe fetching: the one place threadline downloads a link it did not choose.

Every download here:

- is http or https, nothing else;
- goes only to public addresses: the host is resolved first and any private,
  loopback, link-local, multicast, reserved or unspecified address refuses the
  link (``IMAGES__ALLOW_PRIVATE_ADDRESSES`` lifts this, for tests against
  loopback fakes). Redirects are followed by hand, each hop checked the same way;
- is streamed against a size cap (``Content-Length`` is checked first, the body
  counted as it arrives) under one timeout for the whole download;
- is an image by its bytes: the type is sniffed from the magic numbers
  (PNG, JPEG, WebP, GIF), never taken from the ``Content-Type`` header.

Known limit: the address is checked before httpx connects, and httpx resolves
the name again, so a DNS answer that changes in between (rebinding) is not caught.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from bot import wording
from bot.errors import AttachmentError
from bot.files import sniff_image
from bot.lifetime import ClosesOnExit
from bot.settings import ImageSettings

__all__ = ["FetchError", "FetchedImage", "Fetcher", "sniff_image"]

MAX_REDIRECTS = 3


class FetchError(AttachmentError):
    """A link was refused or its download failed; ``user_message`` says what to do."""


@dataclass(frozen=True, slots=True)
class FetchedImage:
    url: str
    data: bytes
    mime: str

    @property
    def name(self) -> str:
        """A file name for the upload: the link's last path segment, with its real extension."""
        stem = urlsplit(self.url).path.rsplit("/", 1)[-1].rsplit(".", 1)[0] or "image"
        return f"{stem[:80]}.{EXTENSIONS[self.mime]}"


EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


class Fetcher(ClosesOnExit):
    """Downloads images from links under the rules above; use ``async with``."""

    def __init__(
        self, settings: ImageSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._settings = settings
        self._client = httpx.AsyncClient(transport=transport, follow_redirects=False)

    async def close(self) -> None:
        await self._client.aclose()

    async def fetch_image(self, url: str) -> FetchedImage:
        """The image at ``url``; raises ``FetchError`` with the sentence to show."""
        try:
            async with asyncio.timeout(self._settings.fetch_timeout):
                return await self._follow(url)
        except TimeoutError:
            raise FetchError(wording.fetch_failed("it took too long")) from None
        except httpx.HTTPError as error:
            raise FetchError(wording.fetch_failed(type(error).__name__)) from None

    async def _follow(self, url: str) -> FetchedImage:
        for _ in range(MAX_REDIRECTS + 1):
            await self.check_url(url)
            async with self._client.stream("GET", url) as response:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise FetchError(wording.fetch_failed(f"HTTP {response.status_code}"))
                data = await self._read_capped(response)
            mime = sniff_image(data)
            if mime is None:
                raise FetchError(wording.image_format_unsupported(_short(url)))
            return FetchedImage(url, data, mime)
        raise FetchError(wording.fetch_failed("too many redirects"))

    async def check_url(self, url: str) -> None:
        """Refuse a link that is not http(s) or that points at a non-public address."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(wording.fetch_refused_scheme(url))
        if self._settings.allow_private_addresses:
            return
        host = parts.hostname
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            addresses = await _resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
        if not addresses or not all(is_public_address(a) for a in addresses):
            raise FetchError(wording.fetch_refused_address(host))

    async def _read_capped(self, response: httpx.Response) -> bytes:
        cap = self._settings.max_image_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchError(wording.image_too_large(_short(str(response.url)), cap))
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > cap:
                raise FetchError(wording.image_too_large(_short(str(response.url)), cap))
        return bytes(body)


async def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise FetchError(wording.fetch_failed(f"{host} could not be found")) from None
    return [str(info[4][0]) for info in infos]


def _short(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1] or url[:60]
