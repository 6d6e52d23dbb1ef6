"""File upload (v2 flow) and ``url_private`` downloads.

The flow slack_sdk's ``files_upload_v2`` drives (slack_sdk/web/async_client.py):

1. ``files.getUploadURLExternal(filename, length)`` as query parameters →
   ``{"upload_url", "file_id"}``; missing arguments → ``invalid_arguments``.
2. a raw POST of the bytes to ``upload_url`` (no token); Slack answers ``200`` with a
   ``text/plain`` body ``OK - <length>``, which the SDK checks for status 200 only.
3. ``files.completeUploadExternal(files='[{"id","title"}]', channel_id, thread_ts,
   initial_comment)`` → shares the files as one message in the channel/thread;
   ``file_not_found`` for ids that were never issued or never received bytes.

``url_private`` / ``url_private_download`` need ``Authorization: Bearer <bot token>``
(scope files:read). Without it Slack does not answer 401: the request ends on the HTML
sign-in page with status 200 — which is what this fake serves, so a client that forgets
the token, or does not check the content type, is caught.
"""

from __future__ import annotations

import mimetypes
import time

from aiohttp import web

from .chat import require_channel
from .state import Json, StoredFile, StoredMessage, Workspace
from .web_api import ApiCall, ApiError, Handler

__all__ = ["FileMethods"]

SIGN_IN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in | Slack</title></head>"
    "<body><h1>Sign in to your workspace</h1></body></html>"
)


class FileMethods:
    def __init__(self, ws: Workspace, bot_token: str):
        self._ws = ws
        self._bot_token = bot_token
        self._uploads: dict[str, str] = {}  # upload id -> file id
        self.downloads: list[Json] = []  # {"file_id", "authorized"}

    def routes(self) -> dict[str, Handler]:
        return {
            "files.getUploadURLExternal": self.get_upload_url,
            "files.completeUploadExternal": self.complete_upload,
        }

    def add_http_routes(self, app: web.Application) -> None:
        app.router.add_post("/upload/v1/{upload_id}", self.receive_upload)
        app.router.add_get("/files-pri/{team_file}/download/{name}", self.download)
        app.router.add_get("/files-pri/{team_file}/{name}", self.download)

    async def get_upload_url(self, call: ApiCall) -> Json:
        ws = self._ws
        filename = call.text("filename", required=True)
        try:
            length = int(call.text("length", required=True))
        except ValueError as exc:
            raise ApiError("invalid_arguments") from exc
        stored = StoredFile(
            id=ws.new_id("F"),
            name=filename,
            title=filename,
            mimetype=_guess_mimetype(filename),
            user=ws.bot_for(call.token).id,
            created=int(time.time()),
            length=length,
            alt_txt=call.optional("alt_txt"),
        )
        ws.files[stored.id] = stored
        upload_id = ws.new_id("u").lower()
        self._uploads[upload_id] = stored.id
        return {"upload_url": f"{ws.origin}/upload/v1/{upload_id}", "file_id": stored.id}

    async def receive_upload(self, request: web.Request) -> web.Response:
        file_id = self._uploads.get(request.match_info["upload_id"])
        if file_id is None:
            return web.Response(status=404, text="upload url not found")
        if request.content_type == "multipart/form-data":
            form = await request.post()
            part = form.get("file") or form.get("filename")
            data = part.file.read() if isinstance(part, web.FileField) else str(part or "").encode()
        else:
            data = await request.read()
        self._ws.files[file_id].content = data
        return web.Response(status=200, text=f"OK - {len(data)}", content_type="text/plain")

    async def complete_upload(self, call: ApiCall) -> Json:
        ws = self._ws
        entries = call.structured("files")
        if not isinstance(entries, list) or not entries:
            raise ApiError("invalid_arguments")
        stored_files = []
        for entry in entries:
            stored = ws.files.get(str(entry.get("id"))) if isinstance(entry, dict) else None
            if stored is None or stored.content is None:
                raise ApiError("file_not_found")
            stored.title = str(entry.get("title") or stored.title)
            stored_files.append(stored)
        channel_id = call.optional("channel_id") or (call.text("channels").split(",")[0] or None)
        if channel_id is not None:
            call.args["channel"] = channel_id
            channel = require_channel(ws, call)
            for stored in stored_files:
                stored.shared = True
            ws.add_message(
                StoredMessage(
                    channel=channel.id,
                    ts=ws.next_ts(),
                    user=ws.bot_for(call.token).id,
                    bot_id=ws.bot_for(call.token).bot_id,
                    text=call.text("initial_comment"),
                    thread_ts=call.optional("thread_ts"),
                    subtype="file_share",
                    files=[f.id for f in stored_files],
                )
            )
        return {"files": [ws.file_json(f) for f in stored_files]}

    async def download(self, request: web.Request) -> web.Response:
        team_file = request.match_info["team_file"]
        stored = self._ws.files.get(team_file.rsplit("-", 1)[-1])
        header = request.headers.get("Authorization", "")
        authorized = header == f"Bearer {self._bot_token}"
        self.downloads.append({"file_id": stored.id if stored else None, "authorized": authorized})
        if not authorized:
            return web.Response(status=200, text=SIGN_IN_PAGE, content_type="text/html")
        if stored is None or stored.content is None:
            return web.Response(status=404, text="file not found")
        return web.Response(body=stored.content, content_type=stored.mimetype)


def _guess_mimetype(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
