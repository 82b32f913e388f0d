"""Three `screenrec serve` instances sharing one Redis and one storage, no sticky sessions:
chunks spread over instances, reconnects elsewhere, stop on a stranger, one instance killed."""

from __future__ import annotations

import itertools
import signal
import tempfile
from pathlib import Path

import pytest

from tests.support.backends import S3_CREDENTIALS, BucketFiles, DirFiles, RedisServer, StoredFiles
from tests.support.clients import Client
from tests.support.media import cut, probe
from tests.support.servers import Server

PIECES = 12


@pytest.fixture(params=["shared-dir", "s3"])
def cluster(
    request: pytest.FixtureRequest, server_factory, redis_server: RedisServer, tmp_path: Path
) -> tuple[list[Server], StoredFiles]:
    """Three instances on one Redis and one storage (a shared directory or a bucket)."""
    redis_server.flush()
    args = ["--redis-url", redis_server.url, "--keep-chunks", "--stale-after", "0"]
    env: dict[str, str] = {}
    files: StoredFiles
    if request.param == "s3":
        weed = request.getfixturevalue("weed_mini")
        bucket = request.getfixturevalue("s3_bucket")
        args += ["--storage", f"s3://{bucket}/cluster", "--s3-endpoint-url", weed.endpoint]
        env = S3_CREDENTIALS
        files = BucketFiles(weed, bucket, "cluster")
    else:
        files = DirFiles(tmp_path / "shared-storage")
        args += ["--storage", str(files.root)]
    servers = [
        server_factory(*args, data_dir=tmp_path / f"instance-{n}", env=env) for n in range(3)
    ]
    return servers, files


async def send(client: Client, record_id: str, seq: int, piece: bytes) -> int:
    ack = await client.call("chunk", {"recordId": record_id, "chunk": piece, "seq": seq})
    assert ack.get("seq") == seq, ack
    return ack["index"]


def assert_complete(files: StoredFiles, record_id: str, pieces: list[bytes], ffmpeg: str) -> None:
    """Every acknowledged chunk is stored once, in order, and the final has every frame."""
    assert files.chunks(record_id, len(pieces)) == pieces
    with tempfile.TemporaryDirectory() as scratch:
        final = Path(scratch) / "final.webm"
        final.write_bytes(files.read(record_id, "final.webm"))
        assert probe(ffmpeg, final).video_frames == 300


async def test_chunks_spread_over_instances_reconnects_and_a_kill(
    cluster: tuple[list[Server], StoredFiles], client_factory, webm: bytes, ffmpeg: str
) -> None:
    servers, files = cluster
    pieces = cut(webm, PIECES, seed=5)
    hops = 0

    # 1. A new connection for every chunk, each to the next instance; stop on the third.
    for seq, piece in enumerate(pieces):
        client = await client_factory(servers[seq % 2].url)
        started = await client.call("start", {"recordId": "hopper"})
        assert started["nextIndex"] == seq
        assert await send(client, "hopper", seq, piece) == seq
        await client.close()
        hops += 1
    stranger = await client_factory(servers[2].url)  # never saw a chunk of "hopper"
    finished = await stranger.call("stop", {"recordId": "hopper", "chunks": PIECES})
    assert finished["status"] == "ready" and finished["chunks"] == PIECES
    assert_complete(files, "hopper", pieces, ffmpeg)

    # 2. One connection that moves to another instance halfway, resending one chunk it
    #    is unsure about (same seq: stored once).
    first = await client_factory(servers[0].url)
    await first.call("start", {"recordId": "mover"})
    for seq in range(6):
        await send(first, "mover", seq, pieces[seq])
    await first.close()
    second = await client_factory(servers[1].url)
    assert (await second.call("start", {"recordId": "mover"}))["nextIndex"] == 6
    hops += 1
    for seq in range(5, PIECES):
        await send(second, "mover", seq, pieces[seq])
    finished = await second.call("stop", {"recordId": "mover", "chunks": PIECES})
    assert finished["chunks"] == PIECES
    assert_complete(files, "mover", pieces, ffmpeg)

    # 3. The instance a recording streams to is SIGKILLed; the client goes elsewhere.
    victim = servers[2]
    client = await client_factory(victim.url)
    await client.call("start", {"recordId": "survivor"})
    for seq in range(7):
        await send(client, "survivor", seq, pieces[seq])
    victim.stop(signal.SIGKILL)
    rescuer = await client_factory(servers[0].url)
    assert (await rescuer.call("start", {"recordId": "survivor"}))["nextIndex"] == 7
    hops += 1
    for seq in range(7, PIECES):
        await send(rescuer, "survivor", seq, pieces[seq])
    finished = await rescuer.call("stop", {"recordId": "survivor", "chunks": PIECES})
    assert finished["chunks"] == PIECES and "warnings" not in finished
    assert_complete(files, "survivor", pieces, ffmpeg)
    assert hops == PIECES + 2


async def test_concurrent_recordings_on_every_instance(
    cluster: tuple[list[Server], StoredFiles], client_factory, webm: bytes, ffmpeg: str
) -> None:
    servers, files = cluster
    pieces = cut(webm, PIECES, seed=9)
    ids = [f"rec-{n}" for n in range(6)]
    clients = [await client_factory(servers[n % 3].url) for n in range(6)]
    for client, record_id in zip(clients, ids, strict=True):
        await client.call("start", {"recordId": record_id})
    # Interleave: every chunk of every recording goes to a different instance than the last.
    rotation = itertools.cycle(range(3))
    for seq, piece in enumerate(pieces):
        for record_id in ids:
            target = await client_factory(servers[next(rotation)].url)
            assert await send(target, record_id, seq, piece) == seq
            await target.close()
    for n, record_id in enumerate(ids):
        stopper = clients[(n + 1) % 6]
        finished = await stopper.call("stop", {"recordId": record_id, "chunks": PIECES})
        assert finished["status"] == "ready" and finished["chunks"] == PIECES
        assert_complete(files, record_id, pieces, ffmpeg)
