"""REST routes: status, download (Range, ETag), list, health; JSON errors and CORS everywhere."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from aiohttp import web

from screenrec import __version__
from screenrec.errors import (
    BadRequest,
    InvalidPayload,
    MethodNotAllowed,
    NotFound,
    ScreenrecError,
    StorageError,
    Unauthorized,
)
from screenrec.links import DOWNLOAD_PREFIX, Links
from screenrec.models import RecordingState, validate_record_id
from screenrec.server.downloads import stream_download
from screenrec.service import RecordingService
from screenrec.wire import status_document

log = logging.getLogger("screenrec.rest")
SERVICE = web.AppKey("service", RecordingService)
LINKS = web.AppKey("links", Links)
EXPOSED_HEADERS = "Content-Range, Content-Length, Content-Disposition, ETag, Accept-Ranges"
MAX_PAGE = 1000

routes = web.RouteTableDef()


def error_response(exc: ScreenrecError) -> web.Response:
    """The JSON body and status of an error."""
    body = {"error": exc.to_dict()}
    if exc.record_id:
        body["recordId"] = exc.record_id  # type: ignore[assignment]
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return web.json_response(body, status=exc.http_status, headers=headers)


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn ScreenrecError and aiohttp's own HTTP errors into JSON bodies (the one place)."""
    try:
        return await handler(request)
    except ScreenrecError as exc:
        if isinstance(exc, StorageError):
            log.warning("%s %s: %s", request.method, request.path, exc.message)
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(_translate(exc, request.path))
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(ScreenrecError("internal error; see the server log"))


def _translate(exc: web.HTTPException, path: str) -> ScreenrecError:
    """aiohttp's own HTTP errors (no route, wrong method, a request too large) in our tree."""
    if exc.status == 404:
        return NotFound(f"nothing at {path}")
    if exc.status == 405:
        allowed = exc.headers.get("Allow", "")
        return MethodNotAllowed(f"{path} does not answer this method; it answers {allowed}")
    if exc.status < 500:
        return BadRequest(exc.text or exc.reason, http_status=exc.status)
    return ScreenrecError(exc.reason)


def cors_middleware(origins: tuple[str, ...]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """CORS headers on every response (errors included) and answers to preflight requests."""
    allow_all = "*" in origins

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, DELETE, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = request.headers.get(
                "Access-Control-Request-Headers", "Authorization, Range, If-None-Match"
            )
            response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
        if origin and (allow_all or origin in origins):
            response.headers["Access-Control-Allow-Origin"] = "*" if allow_all else origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            if not allow_all:
                response.headers["Vary"] = "Origin"
        return response

    return middleware


OPEN_PATHS = frozenset({"/healthz", "/"})
# The Socket.IO endpoint checks `auth.token` itself; the pages and their files hold no data.
OPEN_PREFIXES = ("/socket.io/", "/app/", "/watch/")


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """With tokens configured: every route needs `Authorization: Bearer <token>`, except
    `/healthz`, the recorder and watch pages (`/`, `/watch/...`, `/app/...`), the Socket.IO
    endpoint (it checks `auth.token` itself) and download or live links carrying a valid
    signature."""
    links = request.app[LINKS]
    if not links.enabled or request.method == "OPTIONS" or request.path in OPEN_PATHS:
        return await handler(request)
    if request.path.startswith(OPEN_PREFIXES):
        return await handler(request)
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and links.check_token(presented.strip()):
        return await handler(request)
    query = request.query
    signed = _signed_key(request.path)
    if signed is not None and "sig" in query:
        if links.verify(signed, query.get("expires", ""), query["sig"]):
            return await handler(request)
        raise Unauthorized("this link is expired or its signature is wrong")
    raise Unauthorized("send Authorization: Bearer <token>")


def _signed_key(path: str) -> str | None:
    """The key a signed link for `path` is signed with: a download key, or `{recordId}/live`."""
    if path.startswith(DOWNLOAD_PREFIX):
        return unquote(path[len(DOWNLOAD_PREFIX) :])
    if path.startswith("/recordings/") and path.endswith("/live"):
        return path[len("/recordings/") : -len("/live")] + "/live"
    return None


@routes.get("/recordings/{record_id}/live")
async def live(request: web.Request) -> web.StreamResponse:
    """A recording in progress as one WebM stream (init segment, the latest keyframe on, then
    each chunk as it is stored), for `<video src>`, ffplay or VLC; ends when it does."""
    blocks = request.app[SERVICE].watch(request.match_info["record_id"])
    first = await anext(blocks)  # errors (404, 409, 415) before any header is sent
    response = web.StreamResponse(
        headers={"Content-Type": "video/webm", "Cache-Control": "no-store",
                 "X-Content-Type-Options": "nosniff"},
    )  # fmt: skip
    await response.prepare(request)
    try:
        await response.write(first)
        async for block in blocks:
            if block:
                await response.write(block)
        await response.write_eof()
    except ConnectionError:
        pass  # the watcher left
    finally:
        await blocks.aclose()
    return response


@routes.get("/recordings/{record_id}/status")
async def recording_status(request: web.Request) -> web.Response:
    """One recording's status document."""
    rec = await request.app[SERVICE].status(request.match_info["record_id"])
    return web.json_response(status_document(rec, request.app[LINKS]))


@routes.delete("/recordings/{record_id}")
async def delete_recording(request: web.Request) -> web.Response:
    """Purge one recording; `?force=true` also deletes one that is still recording."""
    force = request.query.get("force", "").lower() in ("1", "true", "yes")
    record_id = request.match_info["record_id"]
    freed = await request.app[SERVICE].purge(record_id, force=force)
    return web.json_response({"recordId": record_id, "deleted": True, "bytesFreed": freed})


@routes.get("/recordings/download/{key:.+}")
async def download(request: web.Request) -> web.StreamResponse:
    """A final (or kept chunk) file, with Range, ETag and Content-Disposition."""
    found = await request.app[SERVICE].open_download(
        request.match_info["key"],
        byte_range=request.headers.get("Range"),
        if_none_match=request.headers.get("If-None-Match"),
        head=request.method == "HEAD",
    )
    headers = {
        "Content-Type": found.content_type,
        "Content-Disposition": f'attachment; filename="{found.filename}"',
        "Cache-Control": "no-cache",
    }
    if found.redirect is not None:
        raise web.HTTPFound(found.redirect, headers={"Cache-Control": "no-store"})
    if found.read is not None:
        return await stream_download(request, found, headers)
    assert found.path is not None
    return web.FileResponse(found.path, headers=headers)


def _encode_cursor(created_at: float, record_id: str) -> str:
    raw = json.dumps([created_at, record_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, record_id = json.loads(raw)
        created_at = float(created_at)
    except (ValueError, TypeError, OverflowError, binascii.Error):
        created_at, record_id = math.nan, None
    if not math.isfinite(created_at) or not isinstance(record_id, str):
        raise InvalidPayload("cursor is not one this server handed out")
    return created_at, validate_record_id(record_id)


@routes.get("/recordings")
async def list_recordings(request: web.Request) -> web.Response:
    """Recordings newest first: `?limit=`, `?status=`, and `?cursor=` from the previous page."""
    query = request.query
    try:
        limit = int(query.get("limit", "100"))
    except ValueError:
        raise InvalidPayload("limit must be an integer") from None
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidPayload(f"limit must be 1..{MAX_PAGE}")
    try:
        states = tuple(RecordingState(s) for s in query.getall("status", []))
    except ValueError:
        raise InvalidPayload("status must be recording, processing, ready or failed") from None
    before = _decode_cursor(query["cursor"]) if "cursor" in query else None
    recs = await request.app[SERVICE].list(limit=limit, before=before, states=states)
    links = request.app[LINKS]
    page = {"recordings": [status_document(r, links) for r in recs], "cursor": None}
    if len(recs) == limit:
        page["cursor"] = _encode_cursor(recs[-1].created_at, recs[-1].record_id)
    return web.json_response(page)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Liveness and readiness: 200 while the store and storage take requests, else 503 with
    the reasons."""
    service = request.app[SERVICE]
    health = await service.health()
    settings = service.settings
    doc = {
        "status": "ok" if health.ok else "degraded",
        "version": __version__,
        "store": health.store,
        "storage": health.storage,
        "capabilities": service.capabilities(),
        "config": {**settings.public_view(), "webhooks": len(settings.webhook_urls)},
    }
    if not health.ok:
        doc["reasons"] = [problem.to_dict() for problem in health.problems]
    return web.json_response(doc, status=200 if health.ok else 503)
