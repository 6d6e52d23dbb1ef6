"""The attachments CDN: signed URLs that expire, like cdn.discordapp.com.

"Attachment CDN URLs ... contain signature query parameters: `ex` (hex
timestamp when the URL expires), `is` (hex timestamp when it was issued) and
`hm` (a signature valid until expiry)"; an expired or unsigned URL answers
404 "This content is no longer available."
https://discord.com/developers/docs/reference#signed-attachment-cdn-urls
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

from aiohttp import web

from .model import Attachment, FakeClock

if TYPE_CHECKING:
    from .state import World

GONE = "This content is no longer available."


class AttachmentSigner:
    """Issues and checks `?ex=&is=&hm=` signatures with a per-fake secret."""

    def __init__(self, base_url: Callable[[], str], clock: FakeClock, ttl: float) -> None:
        self._base_url = base_url
        self._clock = clock
        self._ttl = ttl
        self._secret = secrets.token_bytes(32)
        # Where attachment URLs point instead of this fake (a test's other host), or None.
        self.base_url_override: str | None = None

    @staticmethod
    def path(attachment: Attachment) -> str:
        return f"/attachments/{attachment.channel_id}/{attachment.id}/{attachment.filename}"

    def _mac(self, path: str, ex: str, is_: str) -> str:
        message = f"{path}?ex={ex}&is={is_}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def url(self, attachment: Attachment) -> str:
        issued = int(self._clock.time())
        ex, is_ = f"{issued + int(self._ttl):x}", f"{issued:x}"
        path = self.path(attachment)
        # Discord's URLs end with a bare "&" after hm; keep it, clients must cope.
        mac = self._mac(path, ex, is_)
        base = self.base_url_override or self._base_url()
        return f"{base}{quote(path)}?ex={ex}&is={is_}&hm={mac}&"

    def valid(self, path: str, ex: str, is_: str, hm: str) -> bool:
        if not hmac.compare_digest(self._mac(path, ex, is_), hm):
            return False
        try:
            return self._clock.time() < int(ex, 16)
        except ValueError:
            return False


class Cdn:
    """GET /attachments/{channel_id}/{attachment_id}/{filename}."""

    def __init__(self, world: World, signer: AttachmentSigner) -> None:
        self.world = world
        self.signer = signer

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/attachments/{channel_id}/{attachment_id}/{filename}", self.serve)]

    async def serve(self, request: web.Request) -> web.Response:
        attachment = self.world.attachments.get(int(request.match_info["attachment_id"]))
        query = request.query
        if (
            attachment is None
            or request.path != self.signer.path(attachment)
            or not self.signer.valid(
                request.path, query.get("ex", ""), query.get("is", ""), query.get("hm", "")
            )
        ):
            self.world.counts["cdn_refused"] += 1
            return web.Response(status=404, text=GONE)
        self.world.counts["cdn_served"] += 1
        return web.Response(body=attachment.data, content_type=attachment.content_type)
