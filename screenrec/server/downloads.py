"""Downloads from storage that is not a local disk (S3): a redirect to a presigned URL, or the
object streamed through with the client's Range and If-None-Match passed on."""

from __future__ import annotations

import logging

from aiohttp import web

from screenrec.errors import ScreenrecError
from screenrec.storage import ObjectRead, RemoteDownloads

log = logging.getLogger("screenrec.rest")


async def remote_download(
    request: web.Request,
    storage: RemoteDownloads,
    record_id: str,
    name: str,
    filename: str,
    headers: dict[str, str],
) -> web.StreamResponse:
    """Answer a GET or HEAD for `{record_id}/{name}` with 302, 200, 206, 304 or 416."""
    url = await storage.presigned_url(record_id, name, filename)
    if url is not None:
        raise web.HTTPFound(url, headers={"Cache-Control": "no-store"})
    read = await storage.open_read(
        record_id,
        name,
        byte_range=request.headers.get("Range"),
        if_none_match=request.headers.get("If-None-Match"),
        head=request.method == "HEAD",
    )
    response = _response(read, headers)
    try:
        await response.prepare(request)
        if read.body is not None:
            async for block in read.body:
                await response.write(block)
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away; nothing to answer
    except ScreenrecError as exc:
        # Headers are gone: the only honest signal left is a connection cut short.
        log.warning("download of %s/%s broke off: %s", record_id, name, exc.message)
        if request.transport is not None:
            request.transport.close()
    finally:
        if read.body is not None:
            await read.body.aclose()
    return response


def _response(read: ObjectRead, headers: dict[str, str]) -> web.StreamResponse:
    response = web.StreamResponse(status=read.status, headers=headers)
    response.headers["Accept-Ranges"] = "bytes"
    if read.etag:
        response.headers["ETag"] = read.etag
    if read.last_modified is not None:
        response.last_modified = read.last_modified
    if read.status == 416:
        response.headers["Content-Range"] = f"bytes */{read.size}"
    elif read.content_range:
        response.headers["Content-Range"] = read.content_range
    if read.status in (200, 206):
        response.content_length = read.length
    elif read.status == 416:
        response.content_length = 0
    return response
