"""Finals from the stream index (issue 13): a WebM take is finalized without ffmpeg, from the
index fed as its chunks arrived, or rebuilt from storage when this process did not see them
all; ffmpeg stays the fallback. Each final holds exactly the packets ffmpeg's remux holds."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from screenrec.config import Settings
from screenrec.service import RecordingService
from tests.support import takes
from tests.support.media import cut
from tests.support.samples import cut_with_empties, header_duration_s, make


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[RecordingService]:
    made = RecordingService.open(Settings(data_dir=tmp_path / "data", stale_after=0))
    yield made
    await made.close()


async def take(service: RecordingService, record_id: str, pieces: list[bytes]) -> None:
    await service.start(record_id)
    for seq, piece in enumerate(pieces):
        await service.add_chunk(record_id, piece, seq)


@pytest.mark.parametrize("name", ["vp8_opus.webm", "vp9_opus.webm", "opus.webm"])
async def test_a_webm_take_is_finalized_from_its_index_with_ffmpegs_packets(
    service: RecordingService,
    ffmpeg: str,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
) -> None:
    source = make(ffmpeg, tmp_path_factory, name)
    await take(service, "indexed", cut_with_empties(source.read_bytes(), 3000, 9, seed=5))
    rec = await service.stop("indexed")
    assert service.finalized_by == {"index": 1}
    found = await service.open_download("indexed/final.webm")
    assert found.path is not None
    reference = takes.remux(ffmpeg, source, tmp_path / "reference.webm")
    assert takes.framemd5(ffmpeg, found.path) == takes.framemd5(ffmpeg, reference)
    ours, theirs = header_duration_s(ffmpeg, found.path), header_duration_s(ffmpeg, reference)
    assert ours is not None and theirs is not None
    assert abs(ours - theirs) <= 0.04  # within about a frame
    assert abs((rec.duration_ms or 0) / 1000 - theirs) <= 0.04
    middle = subprocess.run(  # seeking through the Cues works
        [ffmpeg, "-hide_banner", "-nostdin", "-ss", f"{theirs / 2:.2f}",
         "-i", str(found.path), "-frames:a", "1", "-frames:v", "1", "-f", "null", "-"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert middle.returncode == 0, middle.stderr


async def test_a_take_resumed_in_another_process_is_indexed_from_storage(
    tmp_path: Path, ffmpeg: str, webm: bytes
) -> None:
    pieces = cut(webm, 10)
    first = RecordingService.open(Settings(data_dir=tmp_path / "d", stale_after=0))
    await take(first, "moved", pieces[:4])
    await first.close()  # the process is gone; another one gets the rest
    second = RecordingService.open(Settings(data_dir=tmp_path / "d", stale_after=0))
    try:
        await second.start("moved")
        for seq, piece in enumerate(pieces[4:], start=4):
            await second.add_chunk("moved", piece, seq)
        await second.stop("moved")
        assert second.finalized_by == {"scan": 1}
        found = await second.open_download("moved/final.webm")
        assert found.path is not None
        source = tmp_path / "source.webm"
        source.write_bytes(webm)
        reference = takes.remux(ffmpeg, source, tmp_path / "reference.webm")
        assert takes.framemd5(ffmpeg, found.path) == takes.framemd5(ffmpeg, reference)
    finally:
        await second.close()


async def test_what_the_index_cannot_follow_goes_to_ffmpeg(
    service: RecordingService, webm: bytes
) -> None:
    pieces = cut(webm, 6)
    pieces[-1] = pieces[-1][: len(pieces[-1]) // 2]  # the client died mid-chunk
    await take(service, "cut-short", pieces)
    rec = await service.stop("cut-short")
    assert rec.state == "ready" and service.finalized_by == {"ffmpeg": 1}
    assert any("cut short" in w for w in rec.warnings), rec.warnings
