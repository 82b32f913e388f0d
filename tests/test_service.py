"""The in-process tier: RecordingService's rules on SQLite + local disk, with no server and no
sockets (numbering, resume, seq, stop and finalize, purge, downloads, health, housekeeping)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from screenrec.config import Settings
from screenrec.errors import (
    AlreadyFinished,
    FinalizeFailed,
    InvalidKey,
    InvalidPayload,
    LiveRecording,
    NotFound,
    NotStarted,
    StorageError,
)
from screenrec.models import Recording, RecordingState
from screenrec.service import RecordingService
from screenrec.service import core as service_core
from screenrec.service import finalize as service_finalize
from tests.support.media import cut, probe

CLIP_FRAMES = 90  # the `clip` fixture: 3 s at 30 fps


class Services:
    """Opens services on SQLite + local disk under one data dir (settings may be changed);
    whatever is still open at teardown is closed."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.opened: list[RecordingService] = []

    def __call__(self, **changes: Any) -> RecordingService:
        service = RecordingService.open(Settings(data_dir=self.data_dir, **changes))
        self.opened.append(service)
        return service

    async def close(self, service: RecordingService) -> None:
        """End one, as a process exit would."""
        self.opened.remove(service)
        await service.close()


@pytest.fixture
async def open_service(tmp_path: Path) -> AsyncIterator[Services]:
    """A `Services` on tmp_path/data."""
    services = Services(tmp_path / "data")
    yield services
    for service in services.opened:
        await service.close()


@pytest.fixture
def service(open_service: Services) -> RecordingService:
    """A service with default settings."""
    return open_service()


async def add_all(service: RecordingService, record_id: str, pieces: list[bytes]) -> list[int]:
    """Start (or resume) and add every piece in turn; the indices they got."""
    await service.start(record_id)
    return [await service.add_chunk(record_id, piece) for piece in pieces]


def chunk_file(service: RecordingService, record_id: str, index: int) -> Path:
    return service.settings.storage_dir / record_id / f"chunk-{index}.webm"


# -- numbering and resume ------------------------------------------------------------------


async def test_numbering_starts_at_zero_and_resume_never_resets(
    open_service: Services, clip: bytes
) -> None:
    pieces = cut(clip, 6)
    first = open_service()
    rec = await first.start("numbered")
    assert (rec.state, rec.next_index, rec.chunks) == (RecordingState.RECORDING, 0, 0)
    assert [await first.add_chunk("numbered", p) for p in pieces[:3]] == [0, 1, 2]
    again = await first.start("numbered")
    assert (again.next_index, again.chunks, again.bytes) == (3, 3, sum(map(len, pieces[:3])))
    assert again.created_at == rec.created_at
    await open_service.close(first)

    restarted = open_service()  # a new process on the same data dir
    assert (await restarted.start("numbered")).next_index == 3
    assert [await restarted.add_chunk("numbered", p) for p in pieces[3:]] == [3, 4, 5]
    done = await restarted.stop("numbered")
    assert done.chunks == 6 and done.bytes == len(clip)


async def test_a_repeated_seq_gets_the_same_index_and_is_stored_once(
    service: RecordingService, clip: bytes
) -> None:
    pieces = cut(clip, 3)
    await service.start("seqs")
    indices = [await service.add_chunk("seqs", pieces[s], seq=s) for s in (0, 1, 1, 0, 2, 2)]
    assert indices == [0, 1, 1, 0, 2, 2]
    assert sorted(p.name for p in (service.settings.storage_dir / "seqs").iterdir()) == [
        "chunk-0.webm", "chunk-1.webm", "chunk-2.webm",
    ]  # fmt: skip
    rec = await service.status("seqs")
    assert (rec.chunks, rec.bytes, rec.next_index) == (3, len(clip), 3)


async def test_a_repeated_seq_with_other_bytes_is_refused(
    service: RecordingService, clip: bytes
) -> None:
    first, other = cut(clip, 2)
    await service.start("changed")
    assert await service.add_chunk("changed", first, seq=0) == 0
    with pytest.raises(InvalidPayload):
        await service.add_chunk("changed", other, seq=0)
    rec = await service.status("changed")
    assert (rec.chunks, rec.bytes) == (1, len(first))
    assert chunk_file(service, "changed", 0).read_bytes() == first


async def test_unknown_recordings_are_not_started(service: RecordingService, clip: bytes) -> None:
    with pytest.raises(NotStarted):
        await service.add_chunk("ghost", clip[:100])
    with pytest.raises(NotStarted):
        await service.stop("ghost")
    with pytest.raises(NotFound):
        await service.status("ghost")


# -- stop and finalize ---------------------------------------------------------------------


async def test_stop_makes_the_final_from_every_chunk(service: RecordingService, clip: bytes,
                                                     ffmpeg: str) -> None:  # fmt: skip
    await add_all(service, "whole", cut(clip, 5))
    rec = await service.stop("whole")
    assert rec.state == RecordingState.READY and rec.chunks == 5 and rec.bytes == len(clip)
    assert rec.warnings == () and abs(rec.duration_ms - 3000) <= 100
    download = await service.open_download("whole/final.webm")
    assert download.path is not None and download.path.stat().st_size == rec.final_bytes
    found = probe(ffmpeg, download.path)
    assert found.video_frames == CLIP_FRAMES and found.duration_s is not None


async def test_stop_finalizes_once_and_a_second_stop_returns_the_same_recording(
    service: RecordingService, clip: bytes
) -> None:
    finished: list[Recording] = []

    async def count(rec: Recording, seconds: float) -> None:
        finished.append(rec)

    service.on_finished(count)
    await add_all(service, "once", cut(clip, 4))
    answers = await asyncio.gather(*(service.stop("once") for _ in range(4)))
    again = await service.stop("once")
    await service.drain()
    assert all(a == answers[0] for a in answers) and again == answers[0]
    assert answers[0].state == RecordingState.READY
    assert finished == [answers[0]]


async def test_stop_waits_for_chunks_still_in_flight(
    service: RecordingService, clip: bytes
) -> None:
    pieces = cut(clip, 12)
    await service.start("race")
    # Tasks run in creation order: every add_chunk is called before stop, none has finished.
    adds = [asyncio.create_task(service.add_chunk("race", p)) for p in pieces]
    rec = await asyncio.create_task(service.stop("race"))
    assert [await a for a in adds] == list(range(12))
    assert rec.state == RecordingState.READY and rec.chunks == 12 and rec.bytes == len(clip)


async def test_a_finished_recording_refuses_start_and_chunks(
    service: RecordingService, clip: bytes
) -> None:
    pieces = cut(clip, 3)
    await add_all(service, "closed", pieces)
    await service.stop("closed")
    with pytest.raises(AlreadyFinished):
        await service.start("closed")
    with pytest.raises(AlreadyFinished):
        await service.add_chunk("closed", pieces[0])
    assert (await service.status("closed")).chunks == 3


async def test_gaps_in_seq_are_warnings_not_failures(
    service: RecordingService, clip: bytes
) -> None:
    pieces = cut(clip, 6)
    await service.start("gappy")
    for seq in (0, 1, 2, 4, 5):
        await service.add_chunk("gappy", pieces[seq], seq=seq)
    rec = await service.stop("gappy")
    assert rec.state == RecordingState.READY
    assert rec.warnings == ("chunks never received (seq): 3",)


async def test_missing_first_chunk_fails_the_finalize(
    service: RecordingService, clip: bytes
) -> None:
    await add_all(service, "headless", cut(clip, 4))
    chunk_file(service, "headless", 0).unlink()
    with pytest.raises(FinalizeFailed, match="first chunk"):
        await service.stop("headless")
    rec = await service.status("headless")
    assert rec.state == RecordingState.FAILED and "first chunk" in (rec.error or "")
    with pytest.raises(NotFound):
        await service.open_download("headless/final.webm")


async def test_no_chunks_fails_the_finalize(service: RecordingService) -> None:
    await service.start("empty")
    with pytest.raises(FinalizeFailed, match="no stored chunks"):
        await service.stop("empty")
    assert (await service.status("empty")).state == RecordingState.FAILED


async def test_truncated_last_chunk_is_salvaged_with_a_warning(
    service: RecordingService, clip: bytes
) -> None:
    await add_all(service, "cutshort", cut(clip[: len(clip) - 3000], 5))
    rec = await service.stop("cutshort")
    assert rec.state == RecordingState.READY
    assert rec.duration_ms is not None and 2000 < rec.duration_ms < 3000
    assert any("cut short" in w for w in rec.warnings), rec.warnings


# -- purge, downloads, health --------------------------------------------------------------


async def test_purge_needs_force_for_a_live_recording(
    service: RecordingService, clip: bytes
) -> None:
    pieces = cut(clip, 4)
    await add_all(service, "done", pieces[:2])
    await service.stop("done")
    await add_all(service, "live", pieces)

    plan = await service.purge_plan()
    assert [rec.record_id for rec, _ in plan.chosen] == ["done"]
    assert plan.skipped == [("live", "still recording")]
    forced = await service.purge_plan(["live", "nosuch"], force=True)
    assert [(rec.record_id, size) for rec, size in forced.chosen] == [("live", len(clip))]
    assert forced.skipped == [("nosuch", "not found")] and forced.bytes == len(clip)

    with pytest.raises(LiveRecording):
        await service.purge("live")
    assert (await service.status("live")).chunks == 4  # nothing deleted
    assert await service.purge("live", force=True) == len(clip)
    assert await service.purge("done") > 0
    for gone in ("live", "done"):
        with pytest.raises(NotFound):
            await service.status(gone)
        assert not (service.settings.storage_dir / gone).exists()


async def test_a_final_is_served_only_when_ready(service: RecordingService, clip: bytes) -> None:
    await add_all(service, "dl", cut(clip, 3))
    with pytest.raises(NotFound, match=r"no final\.webm yet"):
        await service.open_download("dl/final.webm")
    rec = await service.stop("dl")
    download = await service.open_download("dl/final.webm")
    assert (download.record_id, download.filename, download.content_type) == (
        "dl", "dl.webm", "video/webm",
    )  # fmt: skip
    assert download.path is not None and download.path.stat().st_size == rec.final_bytes
    with pytest.raises(NotFound):
        await service.open_download("nosuch/final.webm")


@pytest.mark.parametrize(
    "key",
    ["../x", "a%2Fb", "x/final.exe", "dl/../final.webm", "dl/chunk-01.webm", "/dl/final.webm"],
)
async def test_hostile_download_keys_are_invalid(service: RecordingService, key: str) -> None:
    with pytest.raises(InvalidKey):
        await service.open_download(key)


async def test_health_checks_store_and_storage(open_service: Services, tmp_path: Path) -> None:
    health = await open_service().health()
    assert health.ok and (health.store, health.storage) == ("sqlite", "local")
    blocked = tmp_path / "not-a-dir"
    blocked.write_bytes(b"")
    broken = await open_service(storage=str(blocked)).health()
    assert not broken.ok
    assert [type(p) for p in broken.problems] == [StorageError]


# -- housekeeping --------------------------------------------------------------------------


class ShiftedClock:
    """`time` for the service, with wall-clock time moved forward on request."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


async def test_maintain_finalizes_stale_recordings_and_purges_old_ones(
    open_service: Services, clip: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ShiftedClock()
    for module in (service_core, service_finalize):  # every module that stamps times
        monkeypatch.setattr(module, "time", clock)
    service = open_service(stale_after=900, retention=86_400)
    assert service.housekeeping_interval == 60.0
    await add_all(service, "abandoned", cut(clip, 3))
    assert await service.maintain() == ([], [])  # active a moment ago: left alone

    clock.offset += 901  # the client left without `stop` 15 minutes ago
    await add_all(service, "active", cut(clip, 2))
    assert await service.maintain() == (["abandoned"], [])
    assert (await service.status("abandoned")).state == RecordingState.READY
    assert (await service.status("active")).state == RecordingState.RECORDING

    clock.offset += 86_401  # a day later: past retention
    finalized, purged = await service.maintain()
    assert finalized == ["active"] and purged == ["abandoned"]
    with pytest.raises(NotFound):
        await service.status("abandoned")


async def test_closing_twice_is_harmless(tmp_path: Path) -> None:
    service = RecordingService.open(Settings(data_dir=tmp_path / "twice"))
    await service.start("x")
    await service.close()
    await service.close()  # a second close (a cleanup path and a finally) must not raise
