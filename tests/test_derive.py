"""`--derive mp4`: an H.264 + AAC copy of WebM finals, made in the background after `ready`,
kept in the state store as a job with a lease, so a SIGKILL mid-encode loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from screenrec.config import Settings
from screenrec.media import moov_before_mdat, read_init
from screenrec.models import DerivativeState
from screenrec.service import RecordingService
from screenrec.wire import status_document
from tests.support.clients import record
from tests.support.media import cut, make_webm, probe

DERIVE_WAIT = 90.0  # a lease (15 s) to run out after a crash, then an encode on a busy box


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[RecordingService]:
    made = RecordingService.open(Settings(data_dir=tmp_path / "data", derive=("mp4",)))
    yield made
    await made.close()


async def test_a_webm_final_gets_an_mp4_copy_after_ready(
    service: RecordingService, clip: bytes, ffmpeg: str
) -> None:
    await service.start("copy")
    for piece in cut(clip, 4):
        await service.add_chunk("copy", piece)
    rec = await service.stop("copy")  # answered before any encoding
    doc = status_document(rec)
    assert rec.final_name == "final.webm" and doc["derivatives"] == {"mp4": {"status": "pending"}}
    assert await service.derive_next() is True
    assert await service.derive_next() is False  # one job, done once
    rec = await service.status("copy")
    doc = status_document(rec)
    assert doc["derivatives"] == {
        "mp4": {"status": "ready", "url": "/recordings/download/copy%2Ffinal.mp4"}
    }
    assert doc["downloadUrl"].endswith("final.webm")  # the final itself is unchanged
    found = await service.open_download("copy/final.mp4")
    assert found.path is not None and found.content_type == "video/mp4"
    info = read_init(found.path.read_bytes()[:65536])
    assert info is not None and (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert moov_before_mdat(found.path)
    copy, final = (
        probe(ffmpeg, found.path),
        probe(ffmpeg, service.storage.local_path("copy", "final.webm")),
    )  # type: ignore[attr-defined]
    assert copy.video_frames == final.video_frames
    assert copy.duration_s is not None and abs(copy.duration_s - (final.duration_s or 0)) < 0.2


async def test_mp4_finals_need_no_copy_and_a_failed_encode_is_retried_then_failed(
    tmp_path: Path, clip: bytes
) -> None:
    settings = Settings(data_dir=tmp_path / "d", derive=("mp4",), ffmpeg=None)
    service = RecordingService.open(settings)
    try:
        await service.start("broken")
        for piece in cut(clip, 3):
            await service.add_chunk("broken", piece)
        rec = await service.stop("broken")
        assert service.derivatives_for(rec) == ["mp4"]
        as_mp4 = dataclasses.replace(rec, final_name="final.mp4", video_codec="h264")
        assert service.derivatives_for(as_mp4) == []  # an MP4 final is its own copy
        final = (await service.open_download("broken/final.webm")).path
        assert final is not None
        final.write_bytes(b"no longer a video")  # the encode of this copy must fail
        for attempt in (1, 2, 3):
            claimed = await service.store.claim_derivative(time.time() + 1000 * attempt, 15)
            assert claimed == ("broken", "mp4", attempt)
            await service._make_derivative(*claimed)
        (found,) = (await service.status("broken")).derivatives
        assert found.status == DerivativeState.FAILED and "ffmpeg" in (found.error or "")
    finally:
        await service.close()


async def test_a_sigkill_while_encoding_loses_nothing(
    server_factory, client_factory, tmp_path: Path, ffmpeg: str
) -> None:
    data = tmp_path / "data"
    long_take = make_webm(ffmpeg, tmp_path / "long.webm", 40, bitrate=1_500_000)
    server = server_factory("--derive", "mp4", "--stale-after", "0", data_dir=data)
    client = await client_factory(server.url)
    finished = await record(client, "survivor", cut(long_take, 20))
    assert finished["status"] == "ready"
    assert finished["derivatives"] == {"mp4": {"status": "pending"}}
    encoder = await _wait_for_encoder(server.proc.pid)
    server.stop(signal.SIGKILL)
    _kill(encoder)  # its parent is gone; on a real crash the machine may be too
    restarted = server_factory("--derive", "mp4", "--stale-after", "0", data_dir=data)
    doc = await _wait_for_copy(restarted.url, "survivor")
    assert doc["derivatives"]["mp4"]["status"] == "ready", doc
    copy = restarted.storage / "survivor" / "final.mp4"
    assert moov_before_mdat(copy)
    got = probe(ffmpeg, copy)
    assert got.duration_s is not None and abs(got.duration_s - 40) < 0.5, got


async def _wait_for_encoder(server_pid: int) -> int:
    """The pid of the server's ffmpeg making the copy (libx264 on its command line)."""
    deadline = time.monotonic() + DERIVE_WAIT
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == server_pid and b"libx264" in cmdline:
                return int(entry.name)
        await asyncio.sleep(0.05)
    raise AssertionError("the server never started encoding the copy")


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


async def _wait_for_copy(url: str, record_id: str) -> dict:
    deadline = time.monotonic() + DERIVE_WAIT
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(f"{url}/recordings/{record_id}/status") as resp:
                doc = await resp.json()
            if doc.get("derivatives", {}).get("mp4", {}).get("status") != "pending":
                return doc
            await asyncio.sleep(0.2)
    raise AssertionError(f"the copy of {record_id} was never made: {doc}")
