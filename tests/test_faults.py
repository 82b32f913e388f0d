"""Fault injection: the server SIGKILLed at random points, a disk that refuses writes, an
ffmpeg that fails, a client that vanishes mid-chunk. Nothing acknowledged is ever lost."""

from __future__ import annotations

import asyncio
import os
import random
import resource
import signal
from pathlib import Path

import pytest

from tests.support.clients import Client, record
from tests.support.media import cut, probe
from tests.support.samples import make
from tests.support.servers import Server

KILLS = int(os.environ.get("SCREENREC_SOAK_KILLS", "20"))
RECORDINGS = 3
PIECES = 40


class Streamer:
    """One recording's client: sends with seq and a small window, remembers what was acked,
    and after a crash resumes by resending everything unacknowledged."""

    def __init__(self, record_id: str, pieces: list[bytes]) -> None:
        self.record_id = record_id
        self.pieces = pieces
        self.acked: dict[int, int] = {}  # seq -> index

    @property
    def done(self) -> bool:
        return len(self.acked) == len(self.pieces)

    async def run(self, client: Client, window: int, stop_after: asyncio.Event) -> None:
        # A server killed before it answers `start` never will: stop waiting when the socket
        # drops (the next run starts again), as for the chunks below.
        starting = asyncio.create_task(client.call("start", {"recordId": self.record_id}))
        gone = asyncio.create_task(client.disconnected.wait())
        await asyncio.wait([starting, gone], return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if not starting.done():
            starting.cancel()
            await asyncio.gather(starting, gone, return_exceptions=True)
            return
        await asyncio.gather(gone, return_exceptions=True)
        starting.result()  # a refused start is a failure
        todo = [seq for seq in range(len(self.pieces)) if seq not in self.acked]
        slots = asyncio.Semaphore(window)

        async def one(seq: int) -> None:
            async with slots:
                if stop_after.is_set():
                    return
                payload = {"recordId": self.record_id, "chunk": self.pieces[seq], "seq": seq}
                answer = await client.call("chunk", payload, timeout=10)
                assert "index" in answer, answer
                if seq in self.acked:  # acknowledged twice: must be the same chunk
                    assert self.acked[seq] == answer["index"]
                self.acked[seq] = answer["index"]

        if not todo:
            return
        tasks = [asyncio.create_task(one(seq)) for seq in todo]
        gone = asyncio.create_task(client.disconnected.wait())
        # A killed server never answers: stop waiting for acks the moment the socket drops.
        await asyncio.wait([*tasks, gone], return_when=asyncio.FIRST_COMPLETED)
        while not gone.done() and not all(t.done() for t in tasks):
            await asyncio.wait([*tasks, gone], return_when=asyncio.FIRST_COMPLETED)
        for task in [*tasks, gone]:
            task.cancel()
        await asyncio.gather(*tasks, gone, return_exceptions=True)


@pytest.mark.timeout(300)
async def test_random_sigkills_lose_no_acknowledged_chunk(
    server_factory, client_factory, webm: bytes, ffmpeg: str, tmp_path: Path
) -> None:
    rng = random.Random(2026)
    data = tmp_path / "data"
    streamers = [Streamer(f"crash-{n}", cut(webm, PIECES, seed=n)) for n in range(RECORDINGS)]
    kills = 0
    while True:
        server = server_factory("--keep-chunks", "--stale-after", "0", data_dir=data)
        stop_after = asyncio.Event()
        clients = [await client_factory(server.url) for _ in streamers]
        runs = [
            asyncio.create_task(s.run(c, window=4, stop_after=stop_after))
            for s, c in zip(streamers, clients, strict=True)
        ]
        if kills < KILLS:
            # Kill after a random number of further acknowledgements: mid-write, mid-ack.
            target = sum(len(s.acked) for s in streamers) + rng.randint(1, 8)
            while sum(len(s.acked) for s in streamers) < target and not all(r.done() for r in runs):
                await asyncio.sleep(0.005)  # watching acks arrive, bounded by the test timeout
            server.stop(signal.SIGKILL)
            kills += 1
            stop_after.set()
        await asyncio.gather(*runs)
        if kills >= KILLS and all(s.done for s in streamers):
            break
        if server.proc.poll() is None:
            server.stop(signal.SIGKILL)
            kills += 1

    if server.proc.poll() is not None:
        server = server_factory("--keep-chunks", "--stale-after", "0", data_dir=data)
    client = await client_factory(server.url)
    checked = 0
    for s in streamers:
        finished = await client.call("stop", {"recordId": s.record_id, "chunks": PIECES})
        assert finished["status"] == "ready", finished
        folder = server.storage / s.record_id
        for seq, index in s.acked.items():  # every acknowledged chunk, where it was acked
            assert (folder / f"chunk-{index}.webm").read_bytes() == s.pieces[seq]
            checked += 1
        assert finished["chunks"] == PIECES  # exactly once: no duplicates stored
        assert probe(ffmpeg, folder / "final.webm").video_frames == 300
    assert kills >= KILLS and checked == RECORDINGS * PIECES


def _small_files() -> None:
    # Runs in the server process: any file over 8 MB fails with EFBIG (Python ignores
    # SIGXFSZ), like a full disk does for one write. SQLite's WAL stays well under it.
    resource.setrlimit(resource.RLIMIT_FSIZE, (8_000_000, 8_000_000))


async def test_disk_refusing_writes_gives_storage_error_and_loses_nothing(
    server_factory, client_factory, webm: bytes
) -> None:
    server = server_factory("--keep-chunks", preexec_fn=_small_files)
    client = await client_factory(server.url)
    small = cut(webm, 40)  # ~35 KB pieces fit
    await client.call("start", {"recordId": "healthy"})
    await client.call("start", {"recordId": "hit"})
    await client.call("chunk", {"recordId": "hit", "chunk": small[0], "seq": 0})
    too_big_for_disk = bytes(9_000_000)  # under the chunk limit, over what the disk takes
    answer = await client.call("chunk", {"recordId": "hit", "chunk": too_big_for_disk, "seq": 1})
    assert answer["error"]["code"] == "storage_error"
    assert "could not store chunk" in answer["error"]["message"]
    assert client.connected
    for seq, piece in enumerate(small):
        ack = await client.call("chunk", {"recordId": "healthy", "chunk": piece, "seq": seq})
        assert ack["index"] == seq  # the other recording is untouched
    finished = await client.call("stop", {"recordId": "healthy"})
    assert finished["status"] == "ready" and finished["bytes"] == len(webm)
    # The refused chunk was not acknowledged, took no row: resending a smaller one works.
    ack = await client.call("chunk", {"recordId": "hit", "chunk": small[1], "seq": 1})
    assert ack["index"] in (1, 2)
    assert not list((server.storage / "hit").glob(".*.tmp"))


async def test_failing_ffmpeg_marks_failed_keeps_chunks_and_finalize_retries(
    server_factory, client_factory, ffmpeg: str, tmp_path: Path, tmp_path_factory
) -> None:
    # An MP4 take: a WebM one is finalized from its index, without ffmpeg.
    take = make(ffmpeg, tmp_path_factory, "h264_aac.mp4").read_bytes()
    data = tmp_path / "data"
    broken = tmp_path / "ffmpeg"
    broken.write_text("#!/bin/sh\necho 'ffmpeg: simulated failure' >&2\nexit 1\n")
    broken.chmod(0o755)
    server = server_factory("--ffmpeg", str(broken), data_dir=data)
    client = await client_factory(server.url)
    pieces = cut(take, 5)
    await client.call("start", {"recordId": "retry-me"})
    for piece in pieces:
        await client.call("chunk", {"recordId": "retry-me", "chunk": piece})
    answer = await client.call("stop", {"recordId": "retry-me"})
    assert answer["error"]["code"] == "finalize_failed"
    assert "simulated failure" in answer["error"]["message"]
    assert len(list((server.storage / "retry-me").glob("chunk-*.webm"))) == 5  # kept
    server.stop()
    fixed = server_factory(data_dir=data)  # a working ffmpeg this time
    client = await client_factory(fixed.url)
    finished = await client.call("stop", {"recordId": "retry-me"})
    assert finished["status"] == "ready" and finished["bytes"] == len(take)


async def test_client_vanishing_mid_chunk_then_resuming_loses_nothing(
    server: Server, client_factory, webm: bytes, ffmpeg: str
) -> None:
    pieces = cut(webm, 8)
    first = await client_factory(server.url)
    await first.call("start", {"recordId": "vanish"})
    for seq in range(4):
        await first.call("chunk", {"recordId": "vanish", "chunk": pieces[seq], "seq": seq})
    await first.emit("chunk", {"recordId": "vanish", "chunk": pieces[4], "seq": 4})
    await first.sio.eio.disconnect(abort=True)  # gone before any answer
    second = await client_factory(server.url)
    await second.call("start", {"recordId": "vanish"})
    for seq in range(4, 8):  # resend from the first unacknowledged chunk
        await second.call("chunk", {"recordId": "vanish", "chunk": pieces[seq], "seq": seq})
    finished = await second.call("stop", {"recordId": "vanish", "chunks": 8})
    assert finished["chunks"] == 8 and finished["bytes"] == len(webm)
    assert probe(ffmpeg, server.storage / "vanish" / "final.webm").video_frames == 300


async def test_a_client_that_stops_reading_does_not_hold_up_others(
    server: Server, client_factory, webm: bytes, http
) -> None:
    # A raw Socket.IO v5 client over aiohttp's websocket that sends and never reads: its
    # receive buffer fills, the server's writes to it back up, and nobody else may notice.
    ws_url = server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    ws = await http.ws_connect(ws_url, max_msg_size=0)
    opening = await ws.receive_str()
    assert opening.startswith("0{")
    await ws.send_str("40/recording,")
    assert (await ws.receive_str()).startswith("40/recording,")
    await ws.send_str('42/recording,["start",{"recordId":"stalled"}]')
    blob = bytes(200_000)
    await ws.send_str(  # a real first chunk: the stream must open as WebM
        '451-/recording,["chunk",{"recordId":"stalled","chunk":{"_placeholder":true,"num":0}}]'
    )
    await ws.send_bytes(webm[:200_000])
    for _ in range(99):  # ~20 MB of chunks whose answers it never reads
        await ws.send_str(
            '451-/recording,["chunk",{"recordId":"stalled","chunk":{"_placeholder":true,"num":0}}]'
        )
        await ws.send_bytes(blob)

    healthy = await client_factory(server.url)
    finished = await record(healthy, "unbothered", cut(webm, 10))
    assert finished["status"] == "ready" and finished["bytes"] == len(webm)
    async with http.get(f"{server.url}/recordings/stalled/status") as resp:
        assert (await resp.json())["chunks"] > 0  # it was served too, just not read
    await ws.close()
