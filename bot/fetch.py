"""Safe fetching: the one place threadline downloads a link it did not choose.

Two kinds of download go through here. ``Downloader`` reads a platform's
attachments (Discord's CDN, Slack's ``url_private``): only from that platform's
own file hosts (``FileHosts``), so a message whose attachment URL points anywhere
else (127.0.0.1, an internal service) is refused unread and the platform token
goes nowhere but the platform; each body is capped while it is read.

``Fetcher`` reads image links from answers and messages. Every download there:

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from bot import wording
from bot.errors import AttachmentError
from bot.files import sniff_image
from bot.lifetime import ClosesOnExit
from bot.settings import ImageSettings

__all__ = [
    "DownloadFailed",
    "DownloadRefused",
    "DownloadTooLarge",
    "Downloaded",
    "Downloader",
    "FetchError",
    "FetchedImage",
    "Fetcher",
    "FileHosts",
    "sniff_image",
]

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
        try:
            return await _read_capped(response, cap)
        except DownloadTooLarge:
            raise FetchError(wording.image_too_large(_short(str(response.url)), cap)) from None


async def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise FetchError(wording.fetch_failed(f"{host} could not be found")) from None
    return [str(info[4][0]) for info in infos]


def _short(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1] or url[:60]


# -- platform attachments ------------------------------------------------------------

# Where the platforms serve attachments. Discord: the CDN (``Attachment.url``) and its
# media proxy (``proxy_url``; discord.py's asset.py builds both). Slack: ``url_private``
# is on files.slack.com (https://docs.slack.dev/reference/objects/file-object), and
# GovSlack's on slack-gov.com; the token may go to any of Slack's own hosts.
DISCORD_FILE_HOSTS = ("cdn.discordapp.com", "media.discordapp.net")
SLACK_FILE_DOMAINS = ("slack.com", "slack-gov.com")
DOWNLOAD_TIMEOUT = 60.0  # a file is a few MiB at most; a stuck download must end


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int


def _origin(url: str) -> _Origin | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is not a number
        return None
    return _Origin(parts.scheme, parts.hostname.lower().rstrip("."), port)


class FileHosts:
    """The hosts a platform's files may be downloaded from, and its token sent to.

    ``hosts`` are whole names, ``domains`` also cover their subdomains; both over
    https only. ``origins`` are exact scheme://host:port URLs trusted as well: the
    platform API base an operator configured (a proxy, or the loopback fakes in the
    tests), which gets the token already.
    """

    def __init__(
        self,
        hosts: Iterable[str] = (),
        *,
        domains: Iterable[str] = (),
        origins: Iterable[str | None] = (),
    ) -> None:
        self._hosts = frozenset(hosts)
        self._domains = tuple(domains)
        self._origins = frozenset(o for o in map(_origin, filter(None, origins)) if o)

    @classmethod
    def discord(cls, api_base: str | None = None) -> FileHosts:
        return cls(DISCORD_FILE_HOSTS, origins=[api_base])

    @classmethod
    def slack(cls, api_url: str | None = None) -> FileHosts:
        return cls(domains=SLACK_FILE_DOMAINS, origins=[api_url])

    def allows(self, url: str) -> bool:
        origin = _origin(url)
        if origin is None:
            return False
        if origin in self._origins:
            return True
        if (origin.scheme, origin.port) != ("https", 443):
            return False
        host = origin.host
        return host in self._hosts or any(
            host == domain or host.endswith("." + domain) for domain in self._domains
        )


class DownloadRefused(Exception):
    """The URL (or a redirect) leads off the platform's file hosts: nothing was sent there."""


class DownloadTooLarge(Exception):
    """The body passed the cap; reading stopped there."""


class DownloadFailed(Exception):
    """The network failed or the download took too long."""


@dataclass(frozen=True, slots=True)
class Downloaded:
    status: int
    content_type: str  # without parameters, lower case
    data: bytes  # empty unless the status is 200


class Downloader(ClosesOnExit):
    """Reads a platform's attachments from its own file hosts only; use ``async with``.

    ``headers`` (Slack's ``Authorization``) are sent with every request, and every
    request, redirects included, goes to ``hosts`` only. ``transport`` is for tests.
    """

    def __init__(
        self,
        hosts: FileHosts,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = DOWNLOAD_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._hosts = hosts
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            headers=dict(headers or {}), follow_redirects=False, transport=transport
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def download(self, url: str, max_bytes: int) -> Downloaded:
        """The file at ``url``, at most ``max_bytes`` of it; raises the errors above."""
        try:
            async with asyncio.timeout(self._timeout):
                return await self._follow(url, max_bytes)
        except TimeoutError:
            raise DownloadFailed("it took too long") from None
        except httpx.HTTPError as error:
            raise DownloadFailed(type(error).__name__) from None

    async def _follow(self, url: str, max_bytes: int) -> Downloaded:
        for _ in range(MAX_REDIRECTS + 1):
            if not self._hosts.allows(url):
                raise DownloadRefused(urlsplit(url).hostname or "")
            async with self._client.stream("GET", url) as response:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                kind = response.headers.get("content-type", "").partition(";")[0]
                kind = kind.strip().lower()
                if response.status_code != 200:
                    return Downloaded(response.status_code, kind, b"")
                data = await _read_capped(response, max_bytes)
            return Downloaded(200, kind, data)
        raise DownloadFailed("too many redirects")


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The body, read only while it stays within ``max_bytes`` (Content-Length first)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise DownloadTooLarge
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise DownloadTooLarge
    return bytes(body)
