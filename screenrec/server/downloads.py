"""Downloads streamed through from storage that is not a local disk (S3), with the client's
Range and If-None-Match already passed on by the service."""

from __future__ import annotations

import logging

from aiohttp import web

from screenrec.errors import ScreenrecError
from screenrec.service import Download
from screenrec.storage import ObjectRead

log = logging.getLogger("screenrec.rest")


async def stream_download(
    request: web.Request, found: Download, headers: dict[str, str]
) -> web.StreamResponse:
    """Answer a GET or HEAD with the opened object: 200, 206, 304 or 416."""
    read = found.read
    assert read is not None
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
        log.warning("download of %s/%s broke off: %s", found.record_id, found.name, exc.message)
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
