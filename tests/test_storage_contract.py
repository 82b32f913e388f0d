"""One contract suite for the Storage interface, run against every backend: `local` (a
directory) and `s3` (SeaweedFS's S3 gateway from the weed_mini fixture)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from screenrec.config import MIB, Settings
from screenrec.errors import ChunkExists, StorageError
from screenrec.storage import LocalFiles, RemoteDownloads, Storage, open_storage

RID = "contract-Rec_1"


@pytest.fixture(params=["local", "s3"])
def storage_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "local":
        return Settings(data_dir=tmp_path)
    bucket = request.getfixturevalue("s3_bucket")
    endpoint = request.getfixturevalue("weed_mini").endpoint
    return Settings(data_dir=tmp_path, storage=f"s3://{bucket}/media", s3_endpoint_url=endpoint)


@pytest.fixture
async def storage(storage_settings: Settings) -> AsyncIterator[Storage]:
    opened = open_storage(storage_settings)
    yield opened
    await opened.close()


async def read_all(storage: Storage, record_id: str, indices: list[int]) -> bytes:
    return b"".join([block async for block in storage.read_chunks(record_id, indices)])


async def read_file(storage: Storage, record_id: str, name: str) -> bytes:
    """A stored file's bytes, the way the download route gets at them."""
    if isinstance(storage, LocalFiles):
        path = storage.local_path(record_id, name)
        assert path is not None
        return path.read_bytes()
    assert isinstance(storage, RemoteDownloads)
    read = await storage.open_read(record_id, name, byte_range=None, if_none_match=None)
    assert read.status == 200 and read.body is not None
    return b"".join([block async for block in read.body])


def payload(index: int, size: int = 1000) -> bytes:
    return bytes([index % 251]) * size


async def test_put_chunks_sizes_and_ordered_reads(storage: Storage) -> None:
    assert await storage.chunk_sizes(RID) == {}
    for index in (0, 1, 2, 10):
        await storage.put_chunk(RID, index, payload(index, 100 + index))
    assert await storage.chunk_sizes(RID) == {0: 100, 1: 101, 2: 102, 10: 110}
    order = [10, 0, 2, 1]
    assert await read_all(storage, RID, order) == b"".join(payload(i, 100 + i) for i in order)
    assert await read_all(storage, RID, []) == b""


async def test_put_chunk_is_create_only(storage: Storage) -> None:
    await storage.put_chunk(RID, 0, b"first")
    with pytest.raises(ChunkExists):
        await storage.put_chunk(RID, 0, b"second, longer")
    assert await read_all(storage, RID, [0]) == b"first"
    assert await storage.chunk_sizes(RID) == {0: 5}


async def test_racing_writers_of_one_index_leave_one_winner(storage: Storage) -> None:
    async def put(n: int) -> int | None:
        try:
            await storage.put_chunk(RID, 3, payload(n, 2000 + n))
            return n
        except ChunkExists:
            return None

    results = await asyncio.gather(*(put(n) for n in range(4)))
    winners = [n for n in results if n is not None]
    assert len(winners) == 1, results
    assert await read_all(storage, RID, [3]) == payload(winners[0], 2000 + winners[0])


async def test_large_chunks_stream_intact(storage: Storage) -> None:
    big = os.urandom(3 * MIB + 17)
    await storage.put_chunk(RID, 0, big)
    await storage.put_chunk(RID, 1, b"tail")
    blocks = [block async for block in storage.read_chunks(RID, [0, 1, 0])]
    assert b"".join(blocks) == big + b"tail" + big


async def test_missing_chunk_raises_storage_error(storage: Storage) -> None:
    await storage.put_chunk(RID, 0, b"here")
    with pytest.raises(StorageError):
        await read_all(storage, RID, [0, 5])
    with pytest.raises(StorageError):
        await read_all(storage, "neverStored", [0])


async def test_put_final_from_scratch(storage: Storage) -> None:
    scratch = storage.scratch_dir()
    assert scratch.is_dir()
    source = scratch / "final.tmp"
    source.write_bytes(b"final bytes" * 1000)
    assert await storage.put_final(RID, source) == 11_000
    assert await read_file(storage, RID, "final.webm") == b"final bytes" * 1000


async def test_put_final_large_file(storage: Storage) -> None:
    """Above the S3 backend's multipart threshold (16 MiB): uploaded in parts."""
    data = os.urandom(MIB) * 21 + b"end"
    source = storage.scratch_dir() / "big.tmp"
    source.write_bytes(data)
    assert await storage.put_final(RID, source) == len(data)
    assert await read_file(storage, RID, "final.webm") == data


async def test_put_final_replaces_an_earlier_final(storage: Storage) -> None:
    for content in (b"first try", b"second"):
        source = storage.scratch_dir() / "again.tmp"
        source.write_bytes(content)
        await storage.put_final(RID, source)
    assert await read_file(storage, RID, "final.webm") == b"second"


async def test_delete_chunks(storage: Storage) -> None:
    for index in range(4):
        await storage.put_chunk(RID, index, payload(index))
    await storage.delete_chunks(RID, {1, 3, 99})
    assert await storage.chunk_sizes(RID) == {0: 1000, 2: 1000}
    await storage.delete_chunks(RID, set())
    await storage.delete_chunks("neverStored", {0})


async def test_usage_and_delete_recording(storage: Storage) -> None:
    neighbour = RID + "1"  # shares RID as a prefix: must be left alone
    await storage.put_chunk(neighbour, 0, b"n" * 50)
    for index in range(3):
        await storage.put_chunk(RID, index, payload(index))
    source = storage.scratch_dir() / "usage.tmp"
    source.write_bytes(b"f" * 700)
    await storage.put_final(RID, source)

    assert await storage.usage(RID) == 3700
    assert await storage.delete_recording(RID) == 3700
    assert await storage.usage(RID) == 0
    assert await storage.chunk_sizes(RID) == {}
    assert await storage.delete_recording(RID) == 0
    assert await storage.usage("neverStored") == 0
    assert await storage.chunk_sizes(neighbour) == {0: 50}
    # A recording can be stored again after it was deleted.
    await storage.put_chunk(RID, 0, b"again")
    assert await read_all(storage, RID, [0]) == b"again"
