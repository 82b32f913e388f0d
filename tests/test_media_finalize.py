"""The finalize decision and its ffmpeg runs, against the real ffmpeg: every browser's
container cut at arbitrary offsets (0-byte chunks included) becomes one seekable final with
exactly the source's video packets; MP4 finals have `moov` first; posters are JPEGs of the
video's aspect, at most 1280 wide."""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from screenrec import media
from screenrec.errors import FinalizeFailed
from screenrec.media import Container, mp4
from screenrec.media.final import WEBM_PLAN
from screenrec.media.poster import poster_time
from tests.support.samples import (
    SAMPLES,
    SECONDS,
    VIDEO_SAMPLES,
    cut_with_empties,
    header_duration_s,
    make,
    make_video,
    video_packets,
    with_doc_type,
)

_SIZE_RE = re.compile(r"Video: (\w+).*?, (\d+)x(\d+)")


# -- the decision (pure) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("container", "video", "audio", "fmt", "final_audio", "reencoded"),
    [
        ("webm", "vp8", "opus", "webm", "opus", False),
        ("webm", "vp9", "vorbis", "webm", "vorbis", False),
        ("webm", "av1", None, "webm", None, False),
        ("webm", None, "opus", "webm", "opus", False),
        ("matroska", "vp9", "aac", "webm", "opus", True),
        ("webm", "h264", "opus", "mp4", "aac", True),  # Chrome video/webm;codecs=h264
        ("matroska", "h264", "aac", "mp4", "aac", False),
        ("matroska", "hevc", None, "mp4", None, False),
        ("matroska", None, "aac", "mp4", "aac", False),
        ("mp4", "h264", "aac", "mp4", "aac", False),  # Safari
        ("mp4", "h264", "opus", "mp4", "aac", True),  # Chrome video/mp4;codecs=avc1,opus
        ("mp4", "vp9", "opus", "mp4", "aac", True),  # Chrome video/mp4
        ("mp4", "av1", None, "mp4", None, False),
        ("mp4", None, "opus", "mp4", "aac", True),
        ("mp4", None, "aac", "mp4", "aac", False),
    ],
)
def test_plan_output(
    container: str, video: str | None, audio: str | None, fmt: str,
    final_audio: str | None, reencoded: bool,
) -> None:  # fmt: skip
    plan = media.plan_output(container, video, audio)
    assert (plan.format, plan.file_name, plan.content_type) == (
        fmt, f"final.{fmt}", f"video/{fmt}")  # fmt: skip
    assert (plan.video_codec, plan.audio_codec, plan.audio_reencoded) == (
        video, final_audio, reencoded)  # fmt: skip
    args = plan.args("ffmpeg", Path("out"))
    assert args[args.index("-i") + 1] == "pipe:0" and args[-1] == "out"
    assert "-c:v" not in args or args[args.index("-c:v") + 1] == "copy"  # never video
    assert ("-c:a" in args) == reencoded or (not reencoded and "-c:a" in args)
    if fmt == "mp4":
        assert args[args.index("-movflags") + 1] == "+faststart"
        assert not any("frag" in a for a in args)
        assert ("-tag:v" in args) == (video == "hevc")
    else:
        assert args[args.index("-cues_to_front") + 1] == "1"


def test_the_webm_plan_is_todays_remux() -> None:
    assert WEBM_PLAN.args("ff", Path("o")) == [
        "ff", "-hide_banner", "-loglevel", "warning", "-y", "-i", "pipe:0",
        "-map", "0", "-c", "copy", "-cues_to_front", "1", "-f", "webm", "o",
    ]  # fmt: skip
    assert media.plan_output("webm", "vp8", "opus").args("ff", Path("o")) == WEBM_PLAN.args(
        "ff", Path("o")
    )


@pytest.mark.parametrize(
    ("container", "video", "audio", "words"),
    [
        ("mp4", "vp8", "opus", "vp8 video in mp4"),
        ("matroska", "V_THEORA", "vorbis", "V_THEORA video"),
        ("webm", None, None, "neither a video nor an audio track"),
    ],
)
def test_plan_refuses_what_no_final_carries(
    container: str, video: str | None, audio: str | None, words: str
) -> None:
    with pytest.raises(FinalizeFailed, match=words):
        media.plan_output(container, video, audio)


def test_duration_dispatch_knows_only_the_two_formats(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown final format"):
        media.duration_ms(tmp_path / "x", "ogg")
    assert poster_time(None) == 0 and poster_time(10_000) == 1.0 and poster_time(601_234) == 60.123


# -- the remux, on real recordings -------------------------------------------------------------


async def blocks(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def init_end(data: bytes) -> int:
    """Where a recorder's first chunk ends: the first Cluster, or the end of `moov` (Chrome
    sends `ftyp` + `moov` alone)."""
    if data.startswith(media.webm.MAGIC):
        return data.index(b"\x1f\x43\xb6\x75") + 1000
    return next(end for kind, _, end in mp4.boxes(data) if kind == b"moov")


async def finalize(ffmpeg: str, data: bytes, output: Path, seed: int) -> media.OutputPlan:
    """What the service does at stop: codecs from the first chunk, then one remux."""
    pieces = cut_with_empties(data, init_end(data), pieces=9, seed=seed)
    info = media.read_init(pieces[0])
    assert info is not None and info.complete
    plan = media.plan_output(info.container, info.video_codec, info.audio_codec)
    lines = await media.remux_to(plan, ffmpeg, blocks(pieces), output, timeout=60)
    assert lines == []  # a whole recording: nothing for the service to warn about
    return plan


def assert_final(ffmpeg: str, source: Path, final: Path, plan: media.OutputPlan) -> None:
    head = final.read_bytes()[:64]
    assert media.sniff(head) == (Container.MP4 if plan.format == "mp4" else Container.WEBM)
    if plan.format == "mp4":
        kinds = [kind for kind, _, _ in media.top_level_boxes(final)]
        assert media.moov_before_mdat(final) and "moof" not in kinds, kinds
    # A live WebM declares no duration: then the length it was made with. B-frames start
    # H.264 video 2 frames late, and the final keeps that (3.067 s for 3 s).
    expected = header_duration_s(ffmpeg, source) or SECONDS
    declared = media.duration_ms(final, plan.format)
    assert declared is not None and abs(declared / 1000 - expected) <= 0.02 * expected
    seen = header_duration_s(ffmpeg, final)
    assert seen is not None and abs(seen - expected) <= 0.02 * expected
    if plan.video_codec:
        assert video_packets(ffmpeg, final) == video_packets(ffmpeg, source)
    info = media.parse_probe(
        subprocess.run(media.probe_args(ffmpeg, final), capture_output=True, text=True).stderr
    )
    assert (info.video_codec, info.audio_codec) == (plan.video_codec, plan.audio_codec)


@pytest.mark.parametrize("name", SAMPLES)
async def test_a_cut_recording_becomes_one_seekable_final(
    ffmpeg: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, name: str
) -> None:
    source = make(ffmpeg, tmp_path_factory, name)
    output = tmp_path / f"final.{SAMPLES[name].final}"
    plan = await finalize(ffmpeg, source.read_bytes(), output, seed=len(name))
    assert plan.format == SAMPLES[name].final
    assert_final(ffmpeg, source, output, plan)


async def test_chrome_h264_labelled_webm_becomes_mp4(
    ffmpeg: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    source = make(ffmpeg, tmp_path_factory, "h264_opus.mkv")
    chrome = with_doc_type(source.read_bytes(), b"webm")
    plan = await finalize(ffmpeg, chrome, tmp_path / "final.mp4", seed=3)
    assert (plan.format, plan.video_codec, plan.audio_codec) == ("mp4", "h264", "aac")
    assert_final(ffmpeg, source, tmp_path / "final.mp4", plan)


async def test_a_stream_ffmpeg_cannot_read_fails_with_its_words(
    ffmpeg: str, tmp_path: Path
) -> None:
    plan = media.plan_output("mp4", "h264", "aac")
    with pytest.raises(FinalizeFailed, match=r"ffmpeg could not remux the recording: .+"):
        await media.remux_to(plan, ffmpeg, blocks([b"\x00" * 4096]), tmp_path / "f.mp4",
                             timeout=30)  # fmt: skip


# -- posters -----------------------------------------------------------------------------------


def jpeg_size(ffmpeg: str, path: Path) -> tuple[int, int]:
    """Check `path` is a JPEG ffmpeg decodes; its width and height."""
    data = path.read_bytes()
    assert data[:3] == b"\xff\xd8\xff" and data.rstrip(b"\0")[-2:] == b"\xff\xd9"
    args = [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"]
    assert subprocess.run(args, capture_output=True, text=True).stderr == ""  # decodes cleanly
    stderr = subprocess.run(media.probe_args(ffmpeg, path), capture_output=True, text=True).stderr
    m = _SIZE_RE.search(stderr)
    assert m is not None and m.group(1) == "mjpeg", stderr
    return int(m.group(2)), int(m.group(3))


def final_of(ffmpeg: str, source: Path, folder: Path) -> tuple[Path, int]:
    """`source` remuxed as the service would (here from a file), and its duration."""
    info = media.read_init(source.read_bytes()[:65536])
    assert info is not None
    plan = media.plan_output(info.container, info.video_codec, info.audio_codec)
    final = folder / f"final.{plan.format}"
    subprocess.run(plan.args(ffmpeg, final, source=str(source)), check=True, capture_output=True)
    declared = media.duration_ms(final, plan.format)
    assert declared is not None
    return final, declared


@pytest.mark.parametrize("name", VIDEO_SAMPLES)
async def test_poster_of_every_final_keeps_the_video_size(
    ffmpeg: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, name: str
) -> None:
    final, declared = final_of(ffmpeg, make(ffmpeg, tmp_path_factory, name), tmp_path)
    await media.make_poster(ffmpeg, final, declared, tmp_path / "poster.jpg")
    assert jpeg_size(ffmpeg, tmp_path / "poster.jpg") == (320, 240)  # never upscaled


@pytest.mark.parametrize(
    ("size", "expected"),
    [("1920x1080", (1280, 720)), ("1366x768", (1280, 720)), ("2560x1600", (1280, 800)),
     ("1280x1024", (1280, 1024)), ("1000x1500", (1000, 1500))],
)  # fmt: skip
async def test_poster_is_at_most_1280_wide_with_the_video_aspect(
    ffmpeg: str, tmp_path: Path, size: str, expected: tuple[int, int]
) -> None:
    final, declared = final_of(ffmpeg, make_video(ffmpeg, tmp_path / "v.mp4", size), tmp_path)
    await media.make_poster(ffmpeg, final, declared, tmp_path / "poster.jpg")
    width, height = jpeg_size(ffmpeg, tmp_path / "poster.jpg")
    video_w, video_h = map(int, size.split("x"))
    assert (width, height) == expected
    assert abs(height - width * video_h / video_w) <= 1  # the aspect, to the even pixel


async def test_an_audio_only_final_has_no_poster(
    ffmpeg: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    final, declared = final_of(ffmpeg, make(ffmpeg, tmp_path_factory, "opus.webm"), tmp_path)
    output = tmp_path / "poster.jpg"
    output.write_bytes(b"left over")
    with pytest.raises(FinalizeFailed, match="could not make a poster"):
        await media.make_poster(ffmpeg, final, declared, output)
    assert not output.exists()
