"""The recorder page (`GET /`), the watch page (`GET /watch/{recordId}`) and their static
files under `/app/`, with a strict CSP.

The files ship inside the package (`screenrec/web/`), are read once at start-up and are
served from memory with an ETag, so no build step, CDN or disk access per request is needed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

PAGE = "index.html"
WATCH_PAGE = "watch.html"
ASSET_PREFIX = "/app/"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_HOST_RE = re.compile(r"[A-Za-z0-9.\-]+(:\d+)?|\[[0-9A-Fa-f:.]+\](:\d+)?")


@dataclass(frozen=True)
class Asset:
    """One file of the page, ready to send."""

    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every file of `screenrec/web/` by name (`index.html`, `app.js`, ...)."""
    assets: dict[str, Asset] = {}
    for entry in resources.files("screenrec").joinpath("web").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in CONTENT_TYPES:
            body = entry.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            assets[entry.name] = Asset(body, CONTENT_TYPES[suffix], etag)
    if PAGE not in assets:
        raise RuntimeError("screenrec/web/index.html is missing from the installed package")
    return assets


def content_security_policy(host: str) -> str:
    """Only this origin: scripts, styles, the WebSocket (ws/wss of this host), media and blobs."""
    sockets = f" ws://{host} wss://{host}" if _HOST_RE.fullmatch(host) else ""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"connect-src 'self'{sockets}",
            "media-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def _respond(request: web.Request, asset: Asset) -> web.Response:
    headers = {
        "ETag": asset.etag,
        "Cache-Control": "no-cache",  # revalidate: an upgraded server serves new files at once
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if asset.content_type.startswith("text/html"):
        headers["Content-Security-Policy"] = content_security_policy(request.host)
        headers["X-Frame-Options"] = "DENY"
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, headers={**headers, "Content-Type": asset.content_type})


def install(app: web.Application) -> None:
    """Serve the page at `/` and its files at `/app/{name}` (GET and HEAD)."""
    assets = load_assets()

    async def page(request: web.Request) -> web.Response:
        return _respond(request, assets[PAGE])

    async def asset(request: web.Request) -> web.Response:
        found = assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound(reason="no such file in the recorder page")
        return _respond(request, found)

    async def watch(request: web.Request) -> web.Response:
        return _respond(request, assets[WATCH_PAGE])

    app.router.add_get("/", page)
    app.router.add_get("/watch/{record_id}", watch)
    app.router.add_get(ASSET_PREFIX + "{name}", asset)
