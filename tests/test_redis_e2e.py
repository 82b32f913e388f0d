"""The server on the Redis state store: the spec's flow, and Redis losing everything mid-stream."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis

from tests.support.backends import RedisServer
from tests.support.clients import record
from tests.support.media import cut, probe


async def flush(server: RedisServer) -> None:
    client = aioredis.from_url(server.url)
    await client.flushall()
    await client.aclose()


async def test_recording_over_redis_state(
    server_factory, client_factory, redis_server: RedisServer, webm: bytes, ffmpeg: str
) -> None:
    await flush(redis_server)
    server = server_factory("--redis-url", redis_server.url)
    client = await client_factory(server.url)
    finished = await record(client, "over-redis", cut(webm, 8))
    assert finished["status"] == "ready" and finished["bytes"] == len(webm)
    final = server.storage / "over-redis" / "final.webm"
    assert probe(ffmpeg, final).video_frames == 300
    inspector = aioredis.from_url(redis_server.url, decode_responses=True)
    keys = await inspector.keys("*")
    await inspector.aclose()
    assert "recording:over-redis:chunk_index" not in keys  # deleted after finalize
    assert all(k.startswith("screenrec:") for k in keys)


async def test_redis_restarted_empty_mid_recording_loses_nothing(
    server_factory, client_factory, redis_server: RedisServer, webm: bytes, ffmpeg: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    await flush(redis_server)
    server = server_factory("--redis-url", redis_server.url, "--keep-chunks")
    client = await client_factory(server.url)
    pieces = cut(webm, 10)
    await client.call("start", {"recordId": "amnesia"})
    for i, piece in enumerate(pieces[:5]):
        assert (await client.call("chunk", {"recordId": "amnesia", "chunk": piece}))["index"] == i
    redis_server.start_again(tmp_path / "redis-after")  # empty: every key is gone

    for i, piece in enumerate(pieces[5:], start=5):
        ack = await client.call("chunk", {"recordId": "amnesia", "chunk": piece})
        assert ack == {"recordId": "amnesia", "index": i}  # counter rebuilt from storage
    finished = await client.call("stop", {"recordId": "amnesia"})
    assert finished["status"] == "ready" and finished["chunks"] == 10
    folder = server.storage / "amnesia"
    assert b"".join((folder / f"chunk-{i}.webm").read_bytes() for i in range(10)) == webm
    assert probe(ffmpeg, folder / "final.webm").video_frames == 300
