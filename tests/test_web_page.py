"""The recorder page over plain HTTP: files from the package, content types, CSP, caching,
open without a token, and off with `--no-web`."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from tests.support.servers import Server

FILES = {
    "/": "text/html",
    "/app/app.js": "text/javascript",
    "/app/sio.js": "text/javascript",
    "/app/style.css": "text/css",
    "/app/icon.svg": "image/svg+xml",
}


async def test_page_and_files_are_served_with_a_strict_policy(
    server: Server, http: aiohttp.ClientSession
) -> None:
    for path, content_type in FILES.items():
        async with http.get(server.url + path) as resp:
            assert resp.status == 200, path
            assert resp.content_type == content_type, path
            assert resp.headers["Cache-Control"] == "no-cache"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            etag = resp.headers["ETag"]
            body = await resp.read()
        async with http.get(server.url + path, headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304 and await resp.read() == b"", path
        assert body, path
    async with http.get(server.url + "/") as resp:
        html = await resp.text()
        csp = dict(
            part.strip().split(" ", 1)
            for part in resp.headers["Content-Security-Policy"].split(";")
        )
    host = server.url.removeprefix("http://")
    assert csp["default-src"] == "'self'" and csp["script-src"] == "'self'"
    assert csp["connect-src"] == f"'self' ws://{host} wss://{host}"
    assert csp["media-src"] == "'self' blob:" and csp["frame-ancestors"] == "'none'"
    assert '<script type="module" src="/app/app.js">' in html
    assert "<script>" not in html and "http" not in html.replace("http-equiv", "")  # no CDN
    async with http.get(server.url + "/app/nothing.js") as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    async with http.get(server.url + "/app/../config.py") as resp:
        assert resp.status == 404


async def test_the_page_needs_no_token_but_the_api_does(
    server_factory: Callable[..., Server], http: aiohttp.ClientSession
) -> None:
    guarded = server_factory("--token", "page-token")
    for path in FILES:
        async with http.get(guarded.url + path) as resp:
            assert resp.status == 200, path
    async with http.get(guarded.url + "/recordings") as resp:
        assert resp.status == 401


async def test_no_web_turns_the_page_off(
    server_factory: Callable[..., Server], http: aiohttp.ClientSession
) -> None:
    quiet = server_factory("--no-web")
    for path in FILES:
        async with http.get(quiet.url + path) as resp:
            assert resp.status == 404, path
    async with http.get(quiet.url + "/healthz") as resp:
        assert (await resp.json())["config"]["web"] is False
