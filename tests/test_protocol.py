"""The spec's protocol end to end: a real server, a real Socket.IO client, real ffmpeg."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.support.clients import Client, record
from tests.support.media import cut, probe
from tests.support.servers import Server


async def download(http: aiohttp.ClientSession, server: Server, url: str, dest: Path) -> Path:
    async with http.get(server.url + url) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"] == "video/webm"
        dest.write_bytes(await resp.read())
    return dest


async def test_happy_path_gives_a_seekable_final_matching_the_source(
    server: Server,
    client: Client,
    http: aiohttp.ClientSession,
    webm: bytes,
    webm_path: Path,
    ffmpeg: str,
    tmp_path: Path,
) -> None:
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
    source, result = probe(ffmpeg, webm_path), probe(ffmpeg, final)
    assert source.duration_s is None  # like MediaRecorder's output: no Duration
    assert result.duration_s is not None and abs(result.duration_s - 10.0) <= 0.2
    assert result.video_frames == source.video_frames == 300
    assert abs(status["durationMs"] - 10_000) <= 200
    # Cues in front of the first Cluster: seekable without reading the whole file.
    data = final.read_bytes()
    assert 0 < data.find(b"\x1c\x53\xbb\x6b") < data.find(b"\x1f\x43\xb6\x75")
    # Chunks are gone after a successful finalize (no --keep-chunks).
    assert not list((server.storage / "abc123").glob("chunk-*"))


async def test_500_unawaited_chunks_are_numbered_in_emit_order_and_joined_byte_exact(
    server_factory, client_factory, webm: bytes
) -> None:
    server = server_factory("--keep-chunks")
    client = await client_factory(server.url)
    pieces = cut(webm, 500, seed=3)
    await client.call("start", {"recordId": "many"})
    acks: list[asyncio.Future] = []
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
    folder = server.storage / "many"
    joined = b"".join((folder / f"chunk-{i}.webm").read_bytes() for i in range(500))
    assert joined == webm
    assert [len((folder / f"chunk-{i}.webm").read_bytes()) for i in range(500)] == [
        len(p) for p in pieces
    ]


async def test_stop_waits_for_chunks_still_in_flight(
    server: Server, client: Client, webm: bytes
) -> None:
    pieces = cut(webm, 60, seed=11)
    await client.call("start", {"recordId": "race"})
    for piece in pieces:
        await client.emit("chunk", {"recordId": "race", "chunk": piece})
    finished = await client.call("stop", {"recordId": "race"})  # no wait for chunkSaved
    assert finished["status"] == "ready"
    assert finished["chunks"] == 60 and finished["bytes"] == len(webm)


async def test_repeated_stop_answers_finished_again_without_redoing_work(
    server: Server, client: Client, webm: bytes
) -> None:
    first = await record(client, "twice", cut(webm, 5))
    final = server.storage / "twice" / "final.webm"
    before = final.stat().st_mtime_ns
    second = await client.call("stop", {"recordId": "twice"})
    assert second == first
    assert final.stat().st_mtime_ns == before
    concurrent = await asyncio.gather(
        *(client.call("stop", {"recordId": "twice"}) for _ in range(5))
    )
    assert all(c == first for c in concurrent)


async def test_concurrent_stops_finalize_once(server: Server, client: Client, webm: bytes) -> None:
    await client.call("start", {"recordId": "once"})
    for piece in cut(webm, 8):
        await client.emit("chunk", {"recordId": "once", "chunk": piece})
    answers = await asyncio.gather(*(client.call("stop", {"recordId": "once"}) for _ in range(4)))
    assert len({a["updatedAt"] for a in answers}) == 1
    assert all(a["status"] == "ready" and a["chunks"] == 8 for a in answers)
    server.wait_for_log("finalized once")
    assert sum("finalized once" in line for line in server.log) == 1


async def test_resume_after_disconnect_continues_numbering(
    server: Server, client_factory, webm: bytes
) -> None:
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
    server_factory, client_factory, webm: bytes, tmp_path: Path
) -> None:
    pieces = cut(webm, 6)
    first_server = server_factory(data_dir=tmp_path / "shared")
    client = await client_factory(first_server.url)
    await client.call("start", {"recordId": "restart"})
    for piece in pieces[:3]:
        await client.call("chunk", {"recordId": "restart", "chunk": piece})
    assert first_server.stop() == 0
    second_server = server_factory(data_dir=tmp_path / "shared")
    client = await client_factory(second_server.url)
    assert (await client.call("start", {"recordId": "restart"}))["nextIndex"] == 3
    for i, piece in enumerate(pieces[3:], start=3):
        assert (await client.call("chunk", {"recordId": "restart", "chunk": piece}))["index"] == i
    finished = await client.call("stop", {"recordId": "restart"})
    assert finished["chunks"] == 6 and finished["bytes"] == len(webm)


async def test_seq_makes_retries_idempotent(server: Server, client: Client, webm: bytes) -> None:
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


async def test_empty_chunks_are_numbered_and_change_nothing(
    server: Server,
    client: Client,
    webm: bytes,
    http: aiohttp.ClientSession,
    ffmpeg: str,
    tmp_path: Path,
) -> None:
    pieces = cut(webm, 4)
    with_empty = [pieces[0], b"", pieces[1], pieces[2], pieces[3], b""]
    await client.call("start", {"recordId": "empty"})
    for i, piece in enumerate(with_empty):
        assert (await client.call("chunk", {"recordId": "empty", "chunk": piece}))["index"] == i
    finished = await client.call("stop", {"recordId": "empty"})
    assert finished["status"] == "ready" and finished["chunks"] == 6
    final = await download(http, server, finished["downloadUrl"], tmp_path / "f.webm")
    assert probe(ffmpeg, final).video_frames == 300


async def test_missing_seq_is_reported_as_a_gap(
    server: Server, client: Client, webm: bytes
) -> None:
    pieces = cut(webm, 5)
    await client.call("start", {"recordId": "gap"})
    for seq in (0, 1, 3, 4):
        await client.call("chunk", {"recordId": "gap", "chunk": pieces[seq], "seq": seq})
    finished = await client.call("stop", {"recordId": "gap"})
    assert finished["status"] == "ready"
    assert any("seq" in w and "2" in w for w in finished["warnings"]), finished


async def test_chunk_lost_from_storage_is_reported(
    server_factory, client_factory, webm: bytes
) -> None:
    server = server_factory("--keep-chunks")
    client = await client_factory(server.url)
    pieces = cut(webm, 5)
    await client.call("start", {"recordId": "lost"})
    for piece in pieces:
        await client.call("chunk", {"recordId": "lost", "chunk": piece})
    (server.storage / "lost" / "chunk-3.webm").unlink()
    finished = await client.call("stop", {"recordId": "lost"})
    assert any("missing from storage: 3" in w for w in finished["warnings"]), finished


async def test_truncated_last_chunk_is_salvaged_with_a_warning(
    server: Server, client: Client, webm: bytes
) -> None:
    pieces = cut(webm[: len(webm) - 5000], 6)
    finished = await record(client, "cutshort", pieces)
    assert finished["status"] == "ready"
    assert 8000 < finished["durationMs"] < 10_000
    assert any("cut short" in w for w in finished["warnings"]), finished


async def test_stop_without_chunks_fails_clearly(server: Server, client: Client) -> None:
    await client.call("start", {"recordId": "nothing"})
    answer = await client.call("stop", {"recordId": "nothing"})
    assert answer["error"]["code"] == "finalize_failed"
    exc = await client.next("exception")
    assert exc["recordId"] == "nothing" and "no stored chunks" in exc["message"]
    assert client.connected


async def test_sigterm_disconnects_clients_and_exits_zero(
    server: Server, client: Client, webm: bytes
) -> None:
    await client.call("start", {"recordId": "bye"})
    await client.call("chunk", {"recordId": "bye", "chunk": cut(webm, 3)[0]})
    exit_code = await asyncio.to_thread(server.stop)
    assert exit_code == 0
    await asyncio.wait_for(client.disconnected.wait(), 10)
