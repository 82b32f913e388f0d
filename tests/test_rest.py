"""The REST API against a real server: status, download (Range, ETag, hostile keys), list,
health, CORS and JSON errors."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
import pytest
import yarl

from screenrec import __version__
from tests.support.clients import Client, record
from tests.support.media import cut
from tests.support.servers import Server

RID = "rest-Rec_01"
JSON = "application/json"


@pytest.fixture
async def done(server: Server, client: Client, webm: bytes) -> str:
    """One finished recording on `server`."""
    finished = await record(client, RID, cut(webm, 4))
    assert finished["status"] == "ready", finished
    return RID


def raw_url(server: Server, path: str) -> yarl.URL:
    """`path` sent exactly as written: the client neither quotes nor normalises it."""
    return yarl.URL(server.url + path, encoded=True)


async def get_json(
    http: aiohttp.ClientSession, url: str | yarl.URL, **kwargs: Any
) -> tuple[int, Any]:
    async with http.get(url, **kwargs) as resp:
        assert resp.content_type == JSON, (url, resp.status, resp.content_type)
        return resp.status, await resp.json()


def iso_time(value: Any) -> datetime:
    assert isinstance(value, str) and value.endswith("Z"), value
    return datetime.fromisoformat(value)


# -- status ----------------------------------------------------------------------------------


async def test_status(server: Server, done: str, http: aiohttp.ClientSession, webm: bytes) -> None:
    status, doc = await get_json(http, f"{server.url}/recordings/{done}/status")
    assert status == 200
    assert doc["recordId"] == done and doc["status"] == "ready"
    assert doc["downloadUrl"] == f"/recordings/download/{done}%2Ffinal.webm"
    assert doc["chunks"] == 4 and doc["bytes"] == len(webm)
    assert abs(doc["durationMs"] - 10_000) <= 200
    assert iso_time(doc["createdAt"]) <= iso_time(doc["updatedAt"])

    status, doc = await get_json(http, f"{server.url}/recordings/nosuchRecording/status")
    assert status == 404 and doc["error"]["code"] == "not_found", doc

    for raw in ("a%20b", "a" * 129, "a%2Fb", "%C3%A9", "a.b"):
        status, doc = await get_json(http, raw_url(server, f"/recordings/{raw}/status"))
        assert status == 400, (raw, status, doc)
        assert doc["error"]["code"] == "invalid_record_id", (raw, doc)


# -- download --------------------------------------------------------------------------------


async def test_download_with_range_etag_and_head(
    server: Server, done: str, http: aiohttp.ClientSession
) -> None:
    final = (server.storage / done / "final.webm").read_bytes()
    size = len(final)
    url = f"{server.url}/recordings/download/{done}%2Ffinal.webm"

    async with http.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "video/webm"
        assert resp.headers["Content-Disposition"] == f'attachment; filename="{done}.webm"'
        assert resp.headers["Accept-Ranges"] == "bytes"
        etag = resp.headers["ETag"]
        assert await resp.read() == final

    async with http.get(url, headers={"Range": "bytes=0-99"}) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes 0-99/{size}"
        assert await resp.read() == final[:100]

    async with http.get(url, headers={"Range": "bytes=-100"}) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes {size - 100}-{size - 1}/{size}"
        assert await resp.read() == final[-100:]

    async with http.get(url, headers={"Range": f"bytes={size}-"}) as resp:
        assert resp.status == 416
        assert await resp.read() != final

    async with http.get(url, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304
        assert await resp.read() == b""
    async with http.get(url, headers={"If-None-Match": '"something-else"'}) as resp:
        assert resp.status == 200 and await resp.read() == final

    async with http.head(url) as resp:
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) == size
        assert resp.headers["Content-Type"] == "video/webm"
        assert await resp.read() == b""

    # The unencoded form matches too ({key:.+} spans the slash).
    async with http.get(f"{server.url}/recordings/download/{done}/final.webm") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Disposition"] == f'attachment; filename="{done}.webm"'
        assert await resp.read() == final

    for key in ("nosuchRecording%2Ffinal.webm", f"{done}%2Fchunk-0.webm"):  # chunks were removed
        status, doc = await get_json(http, raw_url(server, f"/recordings/download/{key}"))
        assert status == 404 and doc["error"]["code"] == "not_found", (key, doc)


async def test_hostile_download_keys_are_refused(
    server: Server, done: str, http: aiohttp.ClientSession
) -> None:
    final = (server.storage / done / "final.webm").read_bytes()
    state = (server.data_dir / "state.sqlite3").read_bytes()[:16]
    refused = [
        "..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        f"{done}%2F..%2F..%2Fstate.sqlite3",
        f"{done}%2f..%2f..%2fstate.sqlite3",
        f"{done}%252Ffinal.webm",
        f"{done}%2Ffinal.webm%00",
        f"{done}%2Ffinal.webm%2F",
        f"{done}%2Fstate.sqlite3",
        "..%2Fstate.sqlite3",
        f"{done}%2Fchunk-01.webm",
        f"{done}%2Fchunk--1.webm",
        f"{done}%2F.%2Ffinal.webm",
        f"{done}%5Cfinal.webm",
        f"{done}%2Ffinal.webm%20",
        f"{done}",
    ]
    # Raw '/' and dot segments: aiohttp/yarl may normalise these before routing, which gives
    # the router's 404 instead of the handler's 400. Either is fine as long as the answer is a
    # JSON error and no file content.
    normalisable = [
        "../../etc/passwd",
        f"{done}/../../state.sqlite3",
        f"{done}/./final.webm",
        f"{done}//final.webm",
    ]
    for key in refused + normalisable:
        async with http.get(raw_url(server, f"/recordings/download/{key}")) as resp:
            body = await resp.read()
            allowed = (400,) if key in refused else (400, 404)
            assert resp.status in allowed, (key, resp.status, body[:200])
            assert resp.content_type == JSON, (key, resp.content_type)
            assert final[:64] not in body and state not in body and b"root:" not in body, key
            if resp.status == 400:
                assert (await resp.json())["error"]["code"] == "invalid_key", (key, body)


# -- list ------------------------------------------------------------------------------------


async def test_list_is_newest_first_paginated_and_filtered(
    server: Server, client: Client, done: str, http: aiohttp.ClientSession
) -> None:
    # Created in this order; their ids sort the other way, so ordering by id would show.
    for rid in ("r-c", "r-b", "r-a"):
        assert (await client.call("start", {"recordId": rid}))["nextIndex"] == 0
    newest_first = ["r-a", "r-b", "r-c", done]

    status, page = await get_json(http, f"{server.url}/recordings")
    assert status == 200
    assert [r["recordId"] for r in page["recordings"]] == newest_first
    assert page["recordings"][3]["status"] == "ready"

    status, page = await get_json(http, f"{server.url}/recordings", params={"limit": "2"})
    assert status == 200
    assert [r["recordId"] for r in page["recordings"]] == newest_first[:2]
    assert isinstance(page["cursor"], str) and page["cursor"]
    seen = [r["recordId"] for r in page["recordings"]]
    for _ in range(5):
        if page["cursor"] is None:
            break
        status, page = await get_json(
            http, f"{server.url}/recordings", params={"limit": "2", "cursor": page["cursor"]}
        )
        assert status == 200, page
        seen += [r["recordId"] for r in page["recordings"]]
    assert page["cursor"] is None
    assert seen == newest_first

    status, page = await get_json(http, f"{server.url}/recordings", params={"status": "ready"})
    assert status == 200 and [r["recordId"] for r in page["recordings"]] == [done]
    status, page = await get_json(http, f"{server.url}/recordings", params={"status": "recording"})
    assert status == 200 and [r["recordId"] for r in page["recordings"]] == newest_first[:3]

    def cursor_of(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    bad_queries: list[dict[str, str]] = [
        {"limit": "0"},
        {"limit": "x"},
        {"limit": "5000"},
        {"limit": "-1"},
        {"limit": ""},
        {"status": "bogus"},
        {"cursor": "garbage"},
        {"cursor": "!!!"},
        {"cursor": "é"},
        {"cursor": cursor_of(b"null")},
        {"cursor": cursor_of(b"[1]")},
        {"cursor": cursor_of(b'{"a": 1, "b": 2}')},
        # Well-formed JSON pairs that no server ever handed out: a number too big for a float
        # and NaN must not crash the handler or silently match nothing.
        {"cursor": cursor_of(b"[1" + b"0" * 400 + b', "x"]')},
        {"cursor": cursor_of(b'[NaN, "x"]')},
        {"cursor": cursor_of(b'[Infinity, "x"]')},
    ]
    wrong = []
    for query in bad_queries:
        async with http.get(f"{server.url}/recordings", params=query) as resp:
            text = await resp.text()
            if resp.status != 400 or resp.content_type != JSON:
                wrong.append(f"{query!r:.60}: {resp.status} {resp.content_type} {text[:80]!r}")
            elif (await resp.json())["error"]["code"] != "invalid_payload":
                wrong.append(f"{query!r:.60}: {text[:120]}")
    assert not wrong, "\n".join(wrong)


# -- health, errors, CORS --------------------------------------------------------------------


async def test_healthz_and_json_errors_for_unknown_routes(
    server: Server, http: aiohttp.ClientSession
) -> None:
    status, doc = await get_json(http, f"{server.url}/healthz")
    assert status == 200
    assert {k: doc[k] for k in ("status", "store", "storage", "version")} == {
        "status": "ok", "store": "sqlite", "storage": "local", "version": __version__,
    }  # fmt: skip
    assert {"resume", "seq-idempotency", "ffmpeg", "stale-finalize"} <= set(doc["capabilities"])
    assert doc["config"]["maxChunkBytes"] == 32 * 1024 * 1024

    for path in ("/nowhere", "/recordings/x/status/extra", "/recordings/download/"):
        status, doc = await get_json(http, f"{server.url}{path}")
        assert status == 404 and doc["error"]["code"] == "not_found", (path, doc)
        assert isinstance(doc["error"]["message"], str)

    async with http.post(f"{server.url}/healthz") as resp:
        assert resp.status == 405 and resp.content_type == JSON
        assert (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_cors_allows_every_origin_by_default(
    server: Server, done: str, http: aiohttp.ClientSession
) -> None:
    origin = {"Origin": "http://example.com"}

    def allowed(resp: aiohttp.ClientResponse) -> bool:
        return resp.headers.get("Access-Control-Allow-Origin") in ("*", "http://example.com")

    for path, want in (
        (f"/recordings/{done}/status", 200),
        ("/recordings/nosuchRecording/status", 404),
        ("/recordings/a%20b/status", 400),
        ("/nowhere", 404),
    ):
        async with http.get(raw_url(server, path), headers=origin) as resp:
            assert resp.status == want, path
            assert allowed(resp), (path, dict(resp.headers))

    async with http.get(
        f"{server.url}/recordings/download/{done}%2Ffinal.webm", headers=origin
    ) as resp:
        assert resp.status == 200 and allowed(resp)
        assert "Content-Range" in resp.headers["Access-Control-Expose-Headers"]
        assert "Content-Disposition" in resp.headers["Access-Control-Expose-Headers"]

    preflight = {**origin, "Access-Control-Request-Method": "GET"}
    async with http.options(f"{server.url}/recordings/{done}/status", headers=preflight) as resp:
        assert resp.status == 204
        assert allowed(resp)
        assert "GET" in resp.headers["Access-Control-Allow-Methods"]


async def test_cors_origin_option_narrows_the_allowed_origins(
    server_factory: Callable[..., Server], http: aiohttp.ClientSession
) -> None:
    server = server_factory("--cors-origin", "http://good.example")
    preflight = {"Access-Control-Request-Method": "GET"}
    for path in ("/healthz", "/recordings/nosuchRecording/status"):
        async with http.get(
            f"{server.url}{path}", headers={"Origin": "http://good.example"}
        ) as resp:
            assert resp.headers.get("Access-Control-Allow-Origin") == "http://good.example", path
            assert "Origin" in resp.headers.get("Vary", ""), path
        async with http.get(
            f"{server.url}{path}", headers={"Origin": "http://evil.example"}
        ) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers, (path, dict(resp.headers))
    async with http.options(
        f"{server.url}/healthz", headers={"Origin": "http://good.example", **preflight}
    ) as resp:
        assert resp.status == 204
        assert resp.headers.get("Access-Control-Allow-Origin") == "http://good.example"
    async with http.options(
        f"{server.url}/healthz", headers={"Origin": "http://evil.example", **preflight}
    ) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers, dict(resp.headers)
