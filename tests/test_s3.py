"""S3 storage end to end (`screenrec serve --storage s3://...` against SeaweedFS: record,
download streamed or presigned, purge) and the S3 backend's own behaviour."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from screenrec.config import Settings
from screenrec.errors import ChunkExists, ConfigError, StorageError
from screenrec.storage import open_storage, s3_client
from screenrec.storage import s3_storage as s3_module
from screenrec.storage.s3_storage import S3Storage
from tests.support.backends import S3_CREDENTIALS, WeedMini
from tests.support.clients import Client, record
from tests.support.media import cut
from tests.support.servers import Server

RID = "s3-Rec_01"
PREFIX = "tenant/media"


def s3_server(
    server_factory: Callable[..., Server], weed: WeedMini, bucket: str, *extra: str
) -> Server:
    return server_factory(
        "--storage", f"s3://{bucket}/{PREFIX}", "--s3-endpoint-url", weed.endpoint, *extra,
        env=S3_CREDENTIALS,
    )  # fmt: skip


def keys(weed: WeedMini, bucket: str) -> dict[str, int]:
    client = weed.client()
    try:
        answer = client.list_objects_v2(Bucket=bucket)
    finally:
        client.close()
    return {o["Key"]: o["Size"] for o in answer.get("Contents", [])}


def fetch(weed: WeedMini, bucket: str, key: str) -> bytes:
    client = weed.client()
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    finally:
        client.close()


async def wait_for_keys(weed: WeedMini, bucket: str, wanted: set[str]) -> dict[str, int]:
    """The bucket's keys once they are `wanted` (chunks are deleted after the answer)."""
    end = time.monotonic() + 10
    while set(found := keys(weed, bucket)) != wanted and time.monotonic() < end:
        await asyncio.sleep(0.05)
    return found


async def test_record_and_stream_the_download(
    server_factory: Callable[..., Server],
    client_factory: Callable[[str], Any],
    weed_mini: WeedMini,
    s3_bucket: str,
    http: aiohttp.ClientSession,
    webm: bytes,
) -> None:
    server = s3_server(server_factory, weed_mini, s3_bucket)
    client: Client = await client_factory(server.url)
    finished = await record(client, RID, cut(webm, 6))
    assert finished["status"] == "ready", finished
    final_key = f"{PREFIX}/{RID}/final.webm"
    poster_key = f"{PREFIX}/{RID}/poster.jpg"
    assert set(await wait_for_keys(weed_mini, s3_bucket, {final_key, poster_key})) == {
        final_key,
        poster_key,
    }
    stored = fetch(weed_mini, s3_bucket, final_key)
    size = len(stored)
    url = f"{server.url}{finished['downloadUrl']}"

    async with http.get(url) as resp:
        assert resp.status == 200
        assert await resp.read() == stored
        assert resp.headers["Content-Type"] == "video/webm"
        assert resp.headers["Content-Disposition"] == f'attachment; filename="{RID}.webm"'
        assert resp.headers["Accept-Ranges"] == "bytes"
        etag = resp.headers["ETag"]
    async with http.get(url, headers={"Range": "bytes=0-99"}) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes 0-99/{size}"
        assert await resp.read() == stored[:100]
    async with http.get(url, headers={"Range": "bytes=-10"}) as resp:
        assert resp.status == 206 and await resp.read() == stored[-10:]
    async with http.get(url, headers={"Range": f"bytes={size}-"}) as resp:
        assert resp.status == 416
        assert resp.headers["Content-Range"] == f"bytes */{size}"
    async with http.get(url, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304
    async with http.head(url) as resp:
        assert resp.status == 200 and int(resp.headers["Content-Length"]) == size
    async with http.get(f"{server.url}/recordings/download/nosuch%2Ffinal.webm") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"
    async with http.get(f"{server.url}/recordings/download/{RID}%2F..%2Fx") as resp:
        assert resp.status == 400  # the key is validated before S3 is asked

    status = subprocess.run(
        [sys.executable, "-m", "screenrec", "status", RID, "--json",
         "--data-dir", str(server.data_dir), "--storage", f"s3://{s3_bucket}/{PREFIX}",
         "--s3-endpoint-url", weed_mini.endpoint],
        capture_output=True, text=True, timeout=60, env={**os.environ, **S3_CREDENTIALS},
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["status"] == "ready"

    poster = len(fetch(weed_mini, s3_bucket, poster_key))
    async with http.delete(f"{server.url}/recordings/{RID}") as resp:
        assert resp.status == 200
        assert (await resp.json())["bytesFreed"] == size + poster
    assert keys(weed_mini, s3_bucket) == {}


async def test_presigned_download_redirects(
    server_factory: Callable[..., Server],
    client_factory: Callable[[str], Any],
    weed_mini: WeedMini,
    s3_bucket: str,
    http: aiohttp.ClientSession,
    webm: bytes,
) -> None:
    server = s3_server(server_factory, weed_mini, s3_bucket, "--s3-presign", "--keep-chunks")
    client: Client = await client_factory(server.url)
    finished = await record(client, RID, cut(webm, 3))
    assert finished["status"] == "ready", finished
    stored = fetch(weed_mini, s3_bucket, f"{PREFIX}/{RID}/final.webm")
    assert len(keys(weed_mini, s3_bucket)) == 5  # kept chunks, the final and its poster

    async with http.get(f"{server.url}{finished['downloadUrl']}", allow_redirects=False) as resp:
        assert resp.status == 302
        location = resp.headers["Location"]
    assert location.startswith(weed_mini.endpoint + "/")
    async with http.get(location) as resp:  # weed checks the signature: auth is on
        assert resp.status == 200
        assert await resp.read() == stored
        assert resp.headers["Content-Disposition"] == f'attachment; filename="{RID}.webm"'
    async with http.get(location.replace("Signature=", "Signature=0")) as resp:
        assert resp.status == 403
    chunk_url = f"{server.url}/recordings/download/{RID}%2Fchunk-0.webm"
    async with http.get(chunk_url, allow_redirects=True) as resp:
        assert resp.status == 200 and webm.startswith(await resp.read())
    async with http.get(f"{server.url}/recordings/download/nosuch%2Ffinal.webm") as resp:
        assert resp.status == 404


# -- the backend's own behaviour -----------------------------------------------------------


def s3_settings(tmp_path: Path, weed: WeedMini, bucket: str, **extra: Any) -> Settings:
    return Settings(
        data_dir=tmp_path, storage=f"s3://{bucket}/p", s3_endpoint_url=weed.endpoint, **extra
    )


async def test_keys_match_the_disk_layout(
    tmp_path: Path, weed_mini: WeedMini, s3_bucket: str
) -> None:
    storage = open_storage(s3_settings(tmp_path, weed_mini, s3_bucket))
    try:
        await storage.put_chunk("rec", 0, b"zero")
        await storage.put_chunk("rec", 12, b"twelve")
        source = storage.scratch_dir() / "f"
        source.write_bytes(b"final")
        await storage.put_final("rec", source)
    finally:
        await storage.close()
    assert keys(weed_mini, s3_bucket) == {
        "p/rec/chunk-0.webm": 4, "p/rec/chunk-12.webm": 6, "p/rec/final.webm": 5,
    }  # fmt: skip
    assert storage.scratch_dir() == tmp_path / "scratch"


async def test_listing_follows_pages(
    tmp_path: Path, weed_mini: WeedMini, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_module, "LIST_PAGE", 3)
    monkeypatch.setattr(s3_module, "DELETE_BATCH", 4)
    storage = open_storage(s3_settings(tmp_path, weed_mini, s3_bucket))
    try:
        await asyncio.gather(*(storage.put_chunk("rec", i, b"x" * i) for i in range(11)))
        assert await storage.chunk_sizes("rec") == {i: i for i in range(11)}
        assert await storage.usage("rec") == sum(range(11))
        assert await storage.delete_recording("rec") == sum(range(11))
        assert await storage.chunk_sizes("rec") == {}
    finally:
        await storage.close()


class IgnoresConditions:
    """A client for a service that ignores If-None-Match (it would overwrite silently)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def put_object(self, **kwargs: Any) -> dict[str, Any]:
        kwargs.pop("IfNoneMatch", None)
        return await self.inner.put_object(**kwargs)


async def test_without_conditional_writes_checks_before_writing(
    tmp_path: Path, weed_mini: WeedMini, s3_bucket: str
) -> None:
    storage = S3Storage.from_settings(s3_settings(tmp_path, weed_mini, s3_bucket))
    try:
        storage._client = IgnoresConditions(await storage._s3())
        await storage.put_chunk("rec", 0, b"first")
        assert storage._conditional is False  # the probe noticed
        with pytest.raises(ChunkExists):
            await storage.put_chunk("rec", 0, b"second")
        assert await storage.chunk_sizes("rec") == {0: 5}
        assert set(keys(weed_mini, s3_bucket)) == {"p/rec/chunk-0.webm"}  # probe cleaned up
    finally:
        await storage.close()


async def test_backend_failures_are_storage_errors(
    tmp_path: Path, weed_mini: WeedMini, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_client, "ATTEMPTS", 1)  # no backoff before giving up
    missing_bucket = open_storage(s3_settings(tmp_path, weed_mini, "no-such-bucket"))
    try:
        with pytest.raises(StorageError, match="NoSuchBucket"):
            await missing_bucket.chunk_sizes("rec")
        with pytest.raises(StorageError):
            await missing_bucket.put_chunk("rec", 0, b"x")
    finally:
        await missing_bucket.close()
    nobody = Settings(data_dir=tmp_path, storage="s3://b-1", s3_endpoint_url="http://127.0.0.1:9")
    unreachable = open_storage(nobody)
    try:
        with pytest.raises(StorageError, match="could not list"):
            await unreachable.chunk_sizes("rec")
    finally:
        await unreachable.close()


def test_storage_urls(tmp_path: Path) -> None:
    assert s3_module.parse_s3_url("s3://bucket") == ("bucket", "")
    assert s3_module.parse_s3_url("s3://bucket/a/b/") == ("bucket", "a/b/")
    for bad in ("s3://", "s3:///prefix", "s3://b?x=1"):
        with pytest.raises(ConfigError):
            open_storage(Settings(data_dir=tmp_path, storage=bad))
    with pytest.raises(ConfigError, match="unknown storage"):
        open_storage(Settings(data_dir=tmp_path, storage="gs://bucket"))


def test_missing_aiobotocore_gives_an_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "screenrec.storage.s3_storage")
    monkeypatch.delitem(sys.modules, "screenrec.storage.s3_client", raising=False)
    monkeypatch.setitem(sys.modules, "aiobotocore.session", None)
    with pytest.raises(ConfigError, match=r"pip install 'screenrec\[s3\]'"):
        open_storage(Settings(data_dir=tmp_path, storage="s3://bucket"))
