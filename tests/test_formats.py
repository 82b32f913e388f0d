"""Every browser in, every player out: WebM and MP4 takes through the real service (SQLite and
local disk, or S3), each ending as the final its codecs need, with a poster."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from screenrec.config import Settings
from screenrec.errors import UnsupportedMedia
from screenrec.media import moov_before_mdat, sniff
from screenrec.service import RecordingService
from screenrec.wire import status_document
from tests.support.backends import WeedMini
from tests.support.samples import SAMPLES, cut_with_empties, make, video_packets

PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[RecordingService]:
    made = RecordingService.open(Settings(data_dir=tmp_path / "data", stale_after=0))
    yield made
    await made.close()


async def record(service: RecordingService, record_id: str, pieces: list[bytes]) -> None:
    await service.start(record_id)
    for seq, piece in enumerate(pieces):
        assert await service.add_chunk(record_id, piece, seq) == seq


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's SOF marker."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    pos = 2
    while pos < len(data):
        marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    raise AssertionError("no SOF marker")


@pytest.mark.parametrize("name", sorted(SAMPLES))
async def test_each_recorder_format_ends_as_its_final(
    service: RecordingService,
    ffmpeg: str,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
) -> None:
    sample = SAMPLES[name]
    source = make(ffmpeg, tmp_path_factory, name)
    data = source.read_bytes()
    await record(service, "take", cut_with_empties(data, min(4096, len(data) // 4), 8, seed=3))
    rec = await service.stop("take")
    doc = status_document(rec)
    final_name = f"final.{sample.final}"
    assert (rec.state, rec.final_name, doc["format"]) == ("ready", final_name, sample.final)
    assert doc["downloadUrl"] == f"/recordings/download/take%2F{final_name}"
    # The status describes the final: an MP4 final carries AAC whatever the take had.
    audio = "aac" if sample.final == "mp4" and sample.audio else sample.audio
    assert (doc.get("videoCodec"), doc.get("audioCodec")) == (sample.video, audio)
    assert rec.bytes == len(data)
    found = await service.open_download(f"take/{final_name}")
    assert found.path is not None and found.content_type == f"video/{sample.final}"
    assert sniff(found.path.read_bytes()[:4096]) is not None
    if sample.final == "mp4":
        assert moov_before_mdat(found.path)
    assert not rec.poster  # made after `ready`, so it never delays the answer
    await service.drain()
    rec = await service.status("take")
    doc = status_document(rec)
    if sample.video:
        assert video_packets(ffmpeg, found.path) == video_packets(ffmpeg, source)
        poster = await service.open_download("take/poster.jpg")
        assert poster.path is not None and poster.content_type == "image/jpeg"
        width, height = jpeg_size(poster.path.read_bytes())
        assert (width, height) == (320, 240) and doc["posterUrl"].endswith("poster.jpg")
    else:
        assert not rec.poster and "posterUrl" not in doc


async def test_a_first_chunk_that_is_no_recording_is_refused_and_nothing_stored(
    service: RecordingService, ffmpeg: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data = make(ffmpeg, tmp_path_factory, "h264_aac.mp4").read_bytes()
    await service.start("wrong")
    for junk in (PNG, b"\x00" * 64, bytes(range(256)), b"GIF89a" + bytes(100)):
        with pytest.raises(UnsupportedMedia):
            await service.add_chunk("wrong", junk)
    assert (await service.status("wrong")).next_index == 0  # no index used up
    await record(service, "wrong", cut_with_empties(data, 2000, 5, seed=1))
    rec = await service.stop("wrong")
    assert rec.state == "ready" and rec.final_name == "final.mp4" and rec.chunks == 8


async def test_mp4_finals_and_posters_have_the_same_keys_on_s3(
    tmp_path: Path,
    ffmpeg: str,
    tmp_path_factory: pytest.TempPathFactory,
    weed_mini: WeedMini,
    s3_bucket: str,
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        storage=f"s3://{s3_bucket}/media",
        s3_endpoint_url=weed_mini.endpoint,
        stale_after=0,
    )
    service = RecordingService.open(settings)
    try:
        data = make(ffmpeg, tmp_path_factory, "h264_aac.mp4").read_bytes()
        await record(service, "cloud", cut_with_empties(data, 3000, 6, seed=2))
        rec = await service.stop("cloud")
        assert rec.final_name == "final.mp4" and rec.poster
        found = await service.open_download("cloud/final.mp4")
        assert found.read is not None and found.read.size == rec.final_bytes
        assert found.content_type == "video/mp4"
        if found.read.body is not None:
            await found.read.body.aclose()
    finally:
        await service.close()
    client = weed_mini.client()
    try:
        listed = client.list_objects_v2(Bucket=s3_bucket, Prefix="media/cloud/")
        keys = {item["Key"]: item for item in listed.get("Contents", [])}
        assert set(keys) == {"media/cloud/final.mp4", "media/cloud/poster.jpg"}
        head = client.head_object(Bucket=s3_bucket, Key="media/cloud/final.mp4")
        assert head["ContentType"] == "video/mp4"
    finally:
        client.close()


async def test_a_first_chunk_cut_inside_the_header_is_read_at_finalize(
    service: RecordingService, ffmpeg: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Ten bytes cannot name the container yet: they are taken, and finalize reads the
    container and codecs from the start of the joined stream instead."""
    data = make(ffmpeg, tmp_path_factory, "h264_aac.mp4").read_bytes()
    await record(service, "short", [data[:10], data[10:5000], data[5000:]])
    assert (await service.status("short")).container is None
    rec = await service.stop("short")
    assert (rec.state, rec.final_name, rec.video_codec) == ("ready", "final.mp4", "h264")
    assert rec.warnings == ()


async def test_a_chunk_from_another_container_cannot_join_a_take(
    service: RecordingService, ffmpeg: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A client that switched recorders mid-take: the MP4 stream's first chunk is refused,
    the WebM take goes on and its final holds only WebM."""
    webm = make(ffmpeg, tmp_path_factory, "vp8_opus.webm").read_bytes()
    mp4 = make(ffmpeg, tmp_path_factory, "h264_aac.mp4").read_bytes()
    pieces = cut_with_empties(webm, 3000, 5, seed=4)
    await record(service, "switched", pieces[:3])
    with pytest.raises(UnsupportedMedia, match="new mp4 stream"):
        await service.add_chunk("switched", mp4[:5000])
    for piece in pieces[3:]:
        await service.add_chunk("switched", piece)
    rec = await service.stop("switched")
    assert rec.state == "ready" and rec.final_name == "final.webm"
    assert rec.bytes == len(webm) and rec.warnings == ()  # every WebM byte, nothing else
