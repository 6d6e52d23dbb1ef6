"""HTTP details shared by the REST routes: JSON answers and request bodies.

- discord.py decodes a body as JSON only when Content-Type is exactly
  `application/json` (discord/http.py `json_or_text`), so every JSON answer is
  built from bytes with that header and no charset.
- Messages with files arrive as multipart/form-data: a `payload_json` part plus
  `files[n]` parts (discord/http.py `handle_message_parameters`;
  https://discord.com/developers/docs/reference#uploading-files).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from .limits import ApiError, check_files

JSON = "application/json"


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers={"Content-Type": JSON}
    )


def no_content() -> web.Response:
    return web.Response(status=204)


def error_response(error: ApiError) -> web.Response:
    return json_response(error.body(), status=error.status)


@dataclass
class Upload:
    """One `files[n]` part."""

    index: int
    filename: str
    content_type: str
    data: bytes


@dataclass
class Body:
    """A request's JSON payload and any uploaded files."""

    payload: dict[str, Any] = field(default_factory=dict)
    uploads: list[Upload] = field(default_factory=list)


def _bad_json() -> ApiError:
    return ApiError(400, 50109, "The request body contains invalid JSON.")


async def read_body(request: web.Request, upload_limit: int) -> Body:
    """Parse JSON or multipart bodies; reject oversized files with 413/40005."""
    if request.content_type == "multipart/form-data":
        return await _read_multipart(request, upload_limit)
    if not request.can_read_body:
        return Body()
    try:
        payload = json.loads(await request.read() or b"{}")
    except ValueError:
        raise _bad_json() from None
    if not isinstance(payload, dict):
        raise _bad_json()
    return Body(payload)


async def _read_multipart(request: web.Request, upload_limit: int) -> Body:
    body = Body()
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        name = part.name or ""
        data = await part.read(decode=False)
        if name == "payload_json":
            try:
                body.payload = json.loads(data)
            except ValueError:
                raise _bad_json() from None
        elif name.startswith("files[") and name.endswith("]"):
            body.uploads.append(
                Upload(
                    int(name[6:-1]),
                    part.filename or "unknown",
                    part.headers.get("Content-Type", "application/octet-stream"),
                    bytes(data),
                )
            )
    check_files([len(u.data) for u in body.uploads], upload_limit)
    return body


def query_flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true")
