"""The spec's protocol end to end: a real `screenrec serve`, a real Socket.IO client, real ffmpeg.

Tests that exercise the backends run on every store x storage combination (`backend_server`,
ids `sqlite-local` ... `redis-s3`); transport-only ones run on the default server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from screenrec.simulate import SimulateOptions
from screenrec.simulate import run as simulate
from tests.support.backends import Backend
from tests.support.clients import Client, record
from tests.support.media import cut, probe
from tests.support.servers import Server, ServerFactory

REDIS_ONLY = pytest.mark.parametrize("backend", ["redis-local", "redis-s3"], indirect=True)


async def download(http: aiohttp.ClientSession, server: Server, url: str, dest: Path) -> Path:
    async with http.get(server.url + url) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"] == "video/webm"
        dest.write_bytes(await resp.read())
    return dest


async def test_happy_path_gives_a_seekable_final_matching_the_source(
    backend: Backend,
    backend_server: Server,
    client_factory: Any,
    http: aiohttp.ClientSession,
    webm: bytes,
    webm_path: Path,
    ffmpeg: str,
    tmp_path: Path,
) -> None:
    server, client = backend_server, await client_factory(backend_server.url)
    pieces = cut(webm, 12)
    await client.emit("start", {"recordId": "abc123"})
    assert await client.next("started") == {"recordId": "abc123", "nextIndex": 0}
    for piece in pieces:
        await client.emit("chunk", {"recordId": "abc123", "chunk": piece})
    saved = [await client.next("chunkSaved") for _ in pieces]
    assert saved == [{"recordId": "abc123", "index": i} for i in range(12)]
    await client.emit("stop", {"recordId": "abc123"})
    finished = await client.next("finished")
    assert finished["recordId"] == "abc123"
    assert finished["status"] == "ready"
    assert finished["downloadUrl"] == "/recordings/download/abc123%2Ffinal.webm"
    assert finished["chunks"] == 12 and finished["bytes"] == len(webm)
    assert "warnings" not in finished

    async with http.get(f"{server.url}/recordings/abc123/status") as resp:
        status = await resp.json()
    assert status["status"] == "ready" and status["downloadUrl"] == finished["downloadUrl"]

    final = await download(http, server, finished["downloadUrl"], tmp_path / "final.webm")
    assert final.read_bytes() == backend.files.read("abc123", "final.webm")
    source, result = probe(ffmpeg, webm_path), probe(ffmpeg, final)
    assert source.duration_s is None  # like MediaRecorder's output: no Duration
    assert result.duration_s is not None and abs(result.duration_s - 10.0) <= 0.2
    assert result.video_frames == source.video_frames == 300
    assert abs(status["durationMs"] - 10_000) <= 200
    # Cues in front of the first Cluster: seekable without reading the whole file.
    data = final.read_bytes()
    assert 0 < data.find(b"\x1c\x53\xbb\x6b") < data.find(b"\x1f\x43\xb6\x75")
    # Chunks are gone after a successful finalize (no --keep-chunks).
    final = {"final.webm", "poster.jpg"}
    assert backend.wait_for_names("abc123", final) == final


async def test_500_unawaited_chunks_are_numbered_in_emit_order_and_stored_byte_exact(
    backend: Backend, backend_servers: ServerFactory, client_factory: Any, webm: bytes
) -> None:
    server = backend_servers("--keep-chunks")
    client = await client_factory(server.url)
    pieces = cut(webm, 500, seed=3)
    await client.call("start", {"recordId": "many"})
    acks: list[asyncio.Future[Any]] = []
    loop = asyncio.get_running_loop()
    for piece in pieces:
        fut = loop.create_future()
        acks.append(fut)
        await client.emit("chunk", {"recordId": "many", "chunk": piece},
                          callback=lambda answer, f=fut: f.set_result(answer))  # fmt: skip
    answers = await asyncio.wait_for(asyncio.gather(*acks), 60)
    assert [a["index"] for a in answers] == list(range(500))
    finished = await client.call("stop", {"recordId": "many"})
    assert finished["status"] == "ready" and finished["chunks"] == 500
    assert backend.files.chunks("many", 500) == pieces


async def test_stop_waits_for_chunks_still_in_flight(
    server: Server, client: Client, webm: bytes
) -> None:
    # The order of one socket's events is the transport's job, whatever the backend.
    pieces = cut(webm, 60, seed=11)
    await client.call("start", {"recordId": "race"})
    for piece in pieces:
        await client.emit("chunk", {"recordId": "race", "chunk": piece})
    finished = await client.call("stop", {"recordId": "race"})  # no wait for chunkSaved
    assert finished["status"] == "ready"
    assert finished["chunks"] == 60 and finished["bytes"] == len(webm)


async def test_concurrent_and_repeated_stops_finalize_once(
    backend: Backend, backend_server: Server, client_factory: Any, webm: bytes
) -> None:
    client = await client_factory(backend_server.url)
    await client.call("start", {"recordId": "once"})
    for piece in cut(webm, 8):
        await client.emit("chunk", {"recordId": "once", "chunk": piece})
    answers = await asyncio.gather(*(client.call("stop", {"recordId": "once"}) for _ in range(4)))
    first = answers[0]
    assert first["status"] == "ready" and first["chunks"] == 8
    assert all(a == first for a in answers)  # updatedAt included: one finalize
    final = backend.files.read("once", "final.webm")
    assert await client.call("stop", {"recordId": "once"}) == first
    again = await asyncio.gather(*(client.call("stop", {"recordId": "once"}) for _ in range(5)))
    assert all(a == first for a in again)
    assert backend.files.read("once", "final.webm") == final
    assert await asyncio.to_thread(backend_server.stop) == 0
    assert backend_server.pump is not None
    backend_server.pump.join(timeout=10)  # the whole log is read
    assert sum("finalized once:" in line for line in backend_server.log) == 1


async def test_resume_after_disconnect_continues_numbering(
    server: Server, client_factory: Any, webm: bytes
) -> None:
    # On one server; resuming from the store on every backend is the restart test below.
    pieces = cut(webm, 10)
    first = await client_factory(server.url)
    await first.call("start", {"recordId": "resume"})
    for i, piece in enumerate(pieces[:4]):
        assert (await first.call("chunk", {"recordId": "resume", "chunk": piece}))["index"] == i
    await first.close()
    second = await client_factory(server.url)
    assert await second.call("start", {"recordId": "resume"}) == {
        "recordId": "resume",
        "nextIndex": 4,
    }
    for i, piece in enumerate(pieces[4:], start=4):
        assert (await second.call("chunk", {"recordId": "resume", "chunk": piece}))["index"] == i
    finished = await second.call("stop", {"recordId": "resume"})
    assert finished["chunks"] == 10 and finished["bytes"] == len(webm)


async def test_resume_after_server_restart(
    backend_servers: ServerFactory, client_factory: Any, webm: bytes
) -> None:
    pieces = cut(webm, 6)
    first_server = backend_servers()
    client = await client_factory(first_server.url)
    await client.call("start", {"recordId": "restart"})
    for piece in pieces[:3]:
        await client.call("chunk", {"recordId": "restart", "chunk": piece})
    assert first_server.stop() == 0
    second_server = backend_servers()
    client = await client_factory(second_server.url)
    assert (await client.call("start", {"recordId": "restart"}))["nextIndex"] == 3
    for i, piece in enumerate(pieces[3:], start=3):
        assert (await client.call("chunk", {"recordId": "restart", "chunk": piece}))["index"] == i
    finished = await client.call("stop", {"recordId": "restart"})
    assert finished["chunks"] == 6 and finished["bytes"] == len(webm)


async def test_seq_makes_retries_idempotent(
    backend: Backend, backend_servers: ServerFactory, client_factory: Any, webm: bytes
) -> None:
    client = await client_factory(backend_servers("--keep-chunks").url)
    pieces = cut(webm, 4)
    await client.call("start", {"recordId": "retry"})
    indices = []
    for seq in (0, 1, 1, 2, 0, 3, 3):
        ack = await client.call("chunk", {"recordId": "retry", "chunk": pieces[seq], "seq": seq})
        assert ack["seq"] == seq
        indices.append(ack["index"])
    assert indices == [0, 1, 1, 2, 0, 3, 3]
    finished = await client.call("stop", {"recordId": "retry", "chunks": 4})
    assert finished["chunks"] == 4 and finished["bytes"] == len(webm)
    assert "warnings" not in finished
    kept = {f"chunk-{i}.webm" for i in range(4)}
    everything = kept | {"final.webm", "poster.jpg"}  # the poster follows `ready`
    assert backend.wait_for_names("retry", everything) == everything


async def test_empty_chunks_are_numbered_and_change_nothing(
    backend_server: Server,
    client_factory: Any,
    webm: bytes,
    http: aiohttp.ClientSession,
    ffmpeg: str,
    tmp_path: Path,
) -> None:
    client = await client_factory(backend_server.url)
    pieces = cut(webm, 4)
    with_empty = [pieces[0], b"", pieces[1], pieces[2], pieces[3], b""]
    await client.call("start", {"recordId": "empty"})
    for i, piece in enumerate(with_empty):
        assert (await client.call("chunk", {"recordId": "empty", "chunk": piece}))["index"] == i
    finished = await client.call("stop", {"recordId": "empty"})
    assert finished["status"] == "ready" and finished["chunks"] == 6
    final = await download(http, backend_server, finished["downloadUrl"], tmp_path / "f.webm")
    assert probe(ffmpeg, final).video_frames == 300


async def test_chunk_lost_from_storage_is_reported(
    backend: Backend, backend_servers: ServerFactory, client_factory: Any, webm: bytes
) -> None:
    client = await client_factory(backend_servers("--keep-chunks").url)
    await client.call("start", {"recordId": "lost"})
    for piece in cut(webm, 5):
        await client.call("chunk", {"recordId": "lost", "chunk": piece})
    backend.files.delete("lost", "chunk-3.webm")
    finished = await client.call("stop", {"recordId": "lost"})
    assert finished["status"] == "ready"
    assert finished["warnings"] == ["stored chunks missing from storage: 3"], finished


async def test_stop_without_chunks_fails_clearly(
    backend_server: Server, client_factory: Any
) -> None:
    client = await client_factory(backend_server.url)
    await client.call("start", {"recordId": "nothing"})
    answer = await client.call("stop", {"recordId": "nothing"})
    assert answer["error"]["code"] == "finalize_failed"
    exc = await client.next("exception")
    assert exc["recordId"] == "nothing" and "no stored chunks" in exc["message"]
    assert client.connected


async def test_finished_recordings_refuse_more_and_unknown_ones_are_not_found(
    backend_server: Server, client_factory: Any, http: aiohttp.ClientSession, webm: bytes
) -> None:
    client = await client_factory(backend_server.url)
    pieces = cut(webm, 3)
    await client.call("start", {"recordId": "live"})
    await client.call("chunk", {"recordId": "live", "chunk": pieces[0]})
    base = f"{backend_server.url}/recordings"
    async with http.get(f"{base}/download/live%2Ffinal.webm") as resp:
        assert resp.status == 404  # no final before `ready`
        assert (await resp.json())["error"]["code"] == "not_found"
    assert (await record(client, "done", pieces))["status"] == "ready"

    def code(answer: dict[str, Any]) -> str:
        return answer["error"]["code"]

    assert code(await client.call("start", {"recordId": "done"})) == "already_finished"
    chunk = {"recordId": "done", "chunk": pieces[0]}
    assert code(await client.call("chunk", chunk)) == "already_finished"
    assert code(await client.call("chunk", {**chunk, "recordId": "ghost"})) == "not_started"
    assert code(await client.call("stop", {"recordId": "ghost"})) == "not_started"
    async with http.get(f"{base}/ghost/status") as resp:
        assert resp.status == 404
    async with http.get(f"{base}/done/status") as resp:
        assert (await resp.json())["chunks"] == 3  # the refused chunk changed nothing
    assert client.connected


async def test_concurrent_simulated_recorders_are_verified(
    backend_server: Server, webm_path: Path
) -> None:
    """simulate's own client: four recorders at once, each final downloaded and compared with
    the source (duration and frames)."""
    options = SimulateOptions(url=backend_server.url, clients=4, media=webm_path, window=4,
                              verify=True, timeout=30)  # fmt: skip
    report = await simulate(options)
    assert report.ok, report.to_dict()
    assert (report.ready, report.verified, report.verify_failed) == (4, 4, 0)
    assert report.chunks_acked == report.chunks_offered == 40


@REDIS_ONLY
async def test_redis_restarted_empty_mid_recording_loses_nothing(
    backend: Backend,
    backend_servers: ServerFactory,
    client_factory: Any,
    webm: bytes,
    ffmpeg: str,
    tmp_path: Path,
) -> None:
    assert backend.redis is not None
    client = await client_factory(backend_servers("--keep-chunks").url)
    pieces = cut(webm, 10)
    await client.call("start", {"recordId": "amnesia"})
    for i, piece in enumerate(pieces[:5]):
        assert (await client.call("chunk", {"recordId": "amnesia", "chunk": piece}))["index"] == i
    backend.redis.start_again(tmp_path / "redis-after")  # empty: every key is gone

    for i, piece in enumerate(pieces[5:], start=5):
        ack = await client.call("chunk", {"recordId": "amnesia", "chunk": piece})
        assert ack == {"recordId": "amnesia", "index": i}  # counter rebuilt from storage
    finished = await client.call("stop", {"recordId": "amnesia"})
    assert finished["status"] == "ready" and finished["chunks"] == 10
    assert backend.files.chunks("amnesia", 10) == pieces
    final = tmp_path / "final.webm"
    final.write_bytes(backend.files.read("amnesia", "final.webm"))
    assert probe(ffmpeg, final).video_frames == 300
    inspector = aioredis.from_url(backend.redis.url, decode_responses=True)
    try:
        keys = await inspector.keys("*")
    finally:
        await inspector.aclose()
    assert keys and all(k.startswith("screenrec:") for k in keys)
    assert "recording:amnesia:chunk_index" not in keys  # the spec's counter, gone after stop


async def test_sigterm_disconnects_clients_and_exits_zero(
    server: Server, client: Client, webm: bytes
) -> None:
    await client.call("start", {"recordId": "bye"})
    await client.call("chunk", {"recordId": "bye", "chunk": cut(webm, 3)[0]})
    exit_code = await asyncio.to_thread(server.stop)
    assert exit_code == 0
    await asyncio.wait_for(client.disconnected.wait(), 10)
