"""One contract for every StateStore: the embedded SQLite store and Redis (a real redis-server)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from screenrec.errors import AlreadyFinished, Busy, InvalidPayload, NotStarted
from screenrec.models import ChunkState, Derivative, DerivativeState, RecordingState
from screenrec.store import StateStore
from screenrec.store.redis_store import RedisStore
from screenrec.store.sqlite_store import SqliteStore
from tests.support.backends import RedisServer


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateStore]:
    if request.param == "sqlite":
        made: StateStore = SqliteStore(tmp_path / "state.sqlite3")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        flush = aioredis.from_url(server.url)
        await flush.flushall()
        await flush.aclose()
        made = RedisStore(server.url)
    yield made
    await made.close()


async def test_start_creates_then_resumes_and_refuses_finished(store: StateStore) -> None:
    rec, created = await store.start("r1", 100.0)
    assert created and rec.state == RecordingState.RECORDING and rec.next_index == 0
    await store.reserve_chunk("r1", None, 10, 101.0)
    rec, created = await store.start("r1", 102.0)
    assert not created and rec.next_index == 1 and rec.created_at == 100.0
    await store.begin_finalize("r1", 60, 103.0)
    await store.finish("r1", RecordingState.READY, 104.0, duration_ms=5, final_bytes=9)
    with pytest.raises(AlreadyFinished):
        await store.start("r1", 105.0)


async def test_reserve_numbers_in_order_and_seq_is_idempotent(store: StateStore) -> None:
    with pytest.raises(NotStarted):
        await store.reserve_chunk("nope", None, 1, 1.0)
    await store.start("r", 1.0)
    first = await store.reserve_chunk("r", 0, 10, 2.0)
    second = await store.reserve_chunk("r", 1, 20, 2.0)
    assert (first.index, first.duplicate, second.index) == (0, False, 1)
    again = await store.reserve_chunk("r", 0, 10, 3.0)
    assert again.duplicate and again.index == 0 and again.state == ChunkState.PENDING
    with pytest.raises(InvalidPayload):
        await store.reserve_chunk("r", 1, 21, 3.0)
    await store.commit_chunk("r", 0, 4.0)
    assert (await store.reserve_chunk("r", 0, 10, 5.0)).state == ChunkState.STORED
    rec = await store.get("r")
    assert rec is not None and (rec.chunks, rec.bytes, rec.next_index) == (1, 10, 2)
    assert rec.updated_at == 4.0


async def test_concurrent_reservations_get_unique_contiguous_indices(store: StateStore) -> None:
    await store.start("many", 1.0)
    results = await asyncio.gather(*(store.reserve_chunk("many", None, 1, 2.0) for _ in range(200)))
    assert sorted(r.index for r in results) == list(range(200))


async def test_release_frees_the_seq_and_burns_the_index(store: StateStore) -> None:
    await store.start("r", 1.0)
    await store.reserve_chunk("r", 7, 5, 1.0)
    await store.release_chunk("r", 0)
    retry = await store.reserve_chunk("r", 7, 5, 2.0)
    assert not retry.duplicate and retry.index == 1
    assert [c.index for c in await store.chunks("r")] == [1]


async def test_ensure_next_index_only_moves_forward(store: StateStore) -> None:
    await store.start("r", 1.0)
    await store.ensure_next_index("r", 5)
    await store.ensure_next_index("r", 3)
    assert (await store.reserve_chunk("r", None, 1, 2.0)).index == 5


async def test_finalize_lease_seal_and_finish(store: StateStore) -> None:
    await store.start("r", 1.0)
    for i in range(3):
        await store.reserve_chunk("r", i, 10 + i, 2.0)
    await store.commit_chunk("r", 0, 3.0)
    rec, acquired = await store.begin_finalize("r", 60, 4.0)
    assert acquired and rec.state == RecordingState.PROCESSING
    with pytest.raises(Busy):
        await store.begin_finalize("r", 60, 5.0)
    with pytest.raises(AlreadyFinished):
        await store.reserve_chunk("r", None, 1, 5.0)
    await store.seal("r", stored=[1], abandoned=[2])
    with pytest.raises(AlreadyFinished):  # a late writer of an abandoned chunk is told so
        await store.commit_chunk("r", 2, 6.0)
    states = {c.index: c.state for c in await store.chunks("r")}
    assert states == {0: ChunkState.STORED, 1: ChunkState.STORED, 2: ChunkState.ABANDONED}
    rec = await store.finish(
        "r", RecordingState.READY, 7.0, duration_ms=1234, final_bytes=99, warnings=("a", "b")
    )
    assert (rec.state, rec.chunks, rec.bytes, rec.duration_ms) == ("ready", 2, 21, 1234)
    assert rec.warnings == ("a", "b") and rec.next_index == 3 and rec.error is None
    again, acquired = await store.begin_finalize("r", 60, 8.0)
    assert not acquired and again.state == RecordingState.READY


async def test_media_facts_and_final_name_are_kept(store: StateStore) -> None:
    await store.start("m", 1.0)
    assert (await store.get("m")).container is None  # type: ignore[union-attr]
    await store.set_media("m", "mp4", "h264", None)
    await store.set_media("ghost", "webm", "vp8", "opus")  # unknown ids are left alone
    assert await store.get("ghost") is None
    await store.begin_finalize("m", 60, 2.0)
    rec = await store.finish("m", RecordingState.READY, 3.0, final_name="final.mp4")
    assert not rec.poster
    await store.set_poster("m")
    await store.set_poster("ghost")  # unknown ids are left alone
    assert await store.get("ghost") is None
    rec = await store.get("m")  # type: ignore[assignment]
    facts = (rec.container, rec.video_codec, rec.audio_codec, rec.final_name, rec.poster)
    assert facts == ("mp4", "h264", None, "final.mp4", True)
    assert (await store.list(limit=10))[0].final_name == "final.mp4"


async def test_failed_recordings_can_be_finalized_again(store: StateStore) -> None:
    await store.start("f", 1.0)
    await store.begin_finalize("f", 60, 2.0)
    rec = await store.finish("f", RecordingState.FAILED, 3.0, error="ffmpeg said no")
    assert rec.state == RecordingState.FAILED and rec.error == "ffmpeg said no"
    rec, acquired = await store.begin_finalize("f", 60, 4.0)
    assert acquired and rec.error is None


async def test_list_newest_first_with_cursor_and_filters(store: StateStore) -> None:
    for i, rid in enumerate(["c", "a", "b", "d"]):
        await store.start(rid, 10.0 + i)
    await store.begin_finalize("a", 60, 20.0)
    await store.finish("a", RecordingState.READY, 21.0)
    assert [r.record_id for r in await store.list(limit=10)] == ["d", "b", "a", "c"]
    page = await store.list(limit=2)
    rest = await store.list(limit=10, before=(page[-1].created_at, page[-1].record_id))
    assert [r.record_id for r in page + rest] == ["d", "b", "a", "c"]
    ready = await store.list(limit=10, states=(RecordingState.READY,))
    assert [r.record_id for r in ready] == ["a"]
    assert [r.record_id for r in await store.list(limit=10, created_before=12.0)] == ["a", "c"]
    assert [r.record_id for r in await store.list(limit=10, updated_before=12.5)] == ["b", "c"]
    counts = await store.count_by_state()
    assert counts == {RecordingState.RECORDING: 3, RecordingState.READY: 1}


async def test_delete_forgets_everything(store: StateStore) -> None:
    await store.start("gone", 1.0)
    await store.reserve_chunk("gone", 0, 1, 1.0)
    await store.delete("gone")
    assert await store.get("gone") is None
    assert await store.chunks("gone") == []
    assert await store.list(limit=10) == []
    rec, created = await store.start("gone", 2.0)  # the id can be used again
    assert created and rec.next_index == 0


async def test_redis_uses_the_spec_counter_key(redis_server: RedisServer) -> None:
    client = aioredis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    store = RedisStore(redis_server.url)
    try:
        await store.start("abc123", 1.0)
        assert await client.get("recording:abc123:chunk_index") == "0"
        await store.reserve_chunk("abc123", None, 1, 2.0)
        await store.reserve_chunk("abc123", None, 1, 2.0)
        assert await client.get("recording:abc123:chunk_index") == "2"
        await store.begin_finalize("abc123", 60, 3.0)
        await store.finish("abc123", RecordingState.READY, 4.0)
        assert await client.exists("recording:abc123:chunk_index") == 0  # deleted after finalize
        others = [k for k in await client.keys("*") if not k.startswith("screenrec:")]
        assert others == []  # every other key lives under the one prefix
    finally:
        await store.close()
        await client.aclose()


async def test_seal_adopts_chunks_the_store_lost(store: StateStore) -> None:
    await store.start("lost", 1.0)
    await store.reserve_chunk("lost", None, 10, 1.0)  # index 0, pending, never stored
    await store.begin_finalize("lost", 60, 2.0)
    await store.seal("lost", stored=[], abandoned=[0], adopted={3: 30, 4: 40})
    rows = {c.index: (c.state, c.size, c.seq) for c in await store.chunks("lost")}
    assert rows == {
        0: (ChunkState.ABANDONED, 10, None),
        3: (ChunkState.STORED, 30, None),
        4: (ChunkState.STORED, 40, None),
    }
    rec = await store.get("lost")
    assert rec is not None and (rec.chunks, rec.bytes) == (2, 70)


# -- the SQLite store's event-loop fast path ------------------------------------------------


async def test_sqlite_waits_for_another_writer_without_blocking_the_loop(tmp_path: Path) -> None:
    """The hot path runs on the loop with no busy wait; a lock held by another process (here a
    second connection) sends the transaction to the store's thread, which waits for it."""
    store = SqliteStore(tmp_path / "state.sqlite3")
    await store.start("r", 1.0)
    other = sqlite3.connect(tmp_path / "state.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    reserve = asyncio.create_task(store.reserve_chunk("r", 0, 10, 2.0))
    done, _ = await asyncio.wait([reserve], timeout=0.5)
    assert not done, "a reservation went through while another writer held the lock"
    other.execute("COMMIT")
    other.close()
    assert (await reserve).index == 0
    await store.commit_chunk("r", 0, 3.0)
    rec = await store.get("r")
    assert rec is not None and (rec.chunks, rec.bytes) == (1, 10)
    await store.close()


async def test_sqlite_checkpoints_the_wal_off_the_loop(tmp_path: Path) -> None:
    """The loop's connection never checkpoints (that fsyncs); the thread does it every
    `checkpoint_every` transactions, so the WAL file stays small however long the server runs."""
    store = SqliteStore(tmp_path / "state.sqlite3", checkpoint_every=50)
    await store.start("r", 1.0)
    wal = tmp_path / "state.sqlite3-wal"
    largest = 0
    for i in range(2000):
        await store.reserve_chunk("r", i, 100, 2.0)
        await store.commit_chunk("r", i, 2.0)
        largest = max(largest, wal.stat().st_size)
        await asyncio.sleep(0)  # a server's loop yields between chunks; let the checkpoint start
    await store.close()
    assert largest < 2 * 1024 * 1024, f"the WAL grew to {largest} bytes"


async def test_a_state_file_from_before_the_media_columns_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE recordings (id TEXT PRIMARY KEY, state TEXT NOT NULL, next_index INTEGER "
        "NOT NULL DEFAULT 0, chunks INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT "
        "0, created_at REAL NOT NULL, updated_at REAL NOT NULL, lease_until REAL, duration_ms "
        "INTEGER, final_bytes INTEGER, error TEXT, warnings TEXT);"
        "INSERT INTO recordings (id, state, created_at, updated_at) VALUES "
        "('old', 'ready', 1.0, 2.0);"
    )
    old.close()
    store = SqliteStore(path)
    try:
        rec = await store.get("old")
        assert rec is not None and rec.state == RecordingState.READY
        assert rec.final_name is None and rec.poster is False
    finally:
        await store.close()


async def test_derivative_jobs_are_claimed_once_renewed_retried_and_finished(
    store: StateStore,
) -> None:
    for rid in ("d1", "d2"):
        await store.start(rid, 1.0)
        await store.begin_finalize(rid, 60, 2.0)
        await store.finish(rid, RecordingState.READY, 3.0, final_name="final.webm")
    await store.enqueue_derivative("d1", "mp4", 10.0)
    await store.enqueue_derivative("ghost", "mp4", 10.0)  # unknown: ignored
    pending = (await store.get("d1")).derivatives  # type: ignore[union-attr]
    assert pending == (Derivative("mp4", DerivativeState.PENDING),)
    assert await store.claim_derivative(9.0, 15) is None  # not due yet
    assert await store.claim_derivative(10.0, 15) == ("d1", "mp4", 1)
    assert await store.claim_derivative(11.0, 15) is None  # hidden while its worker runs
    await store.renew_derivative("d1", "mp4", 40.0)
    assert await store.claim_derivative(30.0, 15) is None  # renewed past the first lease
    assert await store.claim_derivative(41.0, 15) == ("d1", "mp4", 2)  # its worker died
    await store.finish_derivative(
        "d1", "mp4", DerivativeState.PENDING, error="ffmpeg died", retry_at=100.0
    )
    assert await store.claim_derivative(99.0, 15) is None
    await store.enqueue_derivative("d2", "mp4", 50.0)
    assert await store.claim_derivative(99.0, 15, record_id="d1") is None  # only d1's
    assert await store.claim_derivative(100.0, 15, record_id="d1") == ("d1", "mp4", 3)
    await store.finish_derivative("d1", "mp4", DerivativeState.READY)
    rec = await store.get("d1")
    assert rec is not None and rec.derivatives == (Derivative("mp4", DerivativeState.READY),)
    await store.enqueue_derivative("d1", "mp4", 200.0)  # a ready one is left as it is
    assert await store.claim_derivative(300.0, 15, record_id="d1") is None
    assert await store.claim_derivative(300.0, 15) == ("d2", "mp4", 1)
    await store.finish_derivative("d2", "mp4", DerivativeState.FAILED, error="no space")
    failed = (await store.get("d2")).derivatives  # type: ignore[union-attr]
    assert failed == (Derivative("mp4", DerivativeState.FAILED, "no space"),)
    await store.enqueue_derivative("d2", "mp4", 400.0)  # a failed one can be asked again
    await store.delete("d2")
    assert await store.claim_derivative(500.0, 15) is None  # purged with its recording
