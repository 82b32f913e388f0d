"""Media for tests, made and measured with simulate's own tools (`screenrec.simulate.source`):
MediaRecorder-like WebM from ffmpeg, cut at arbitrary offsets, frames and duration probed."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from screenrec import media
from screenrec.errors import ConfigError
from screenrec.simulate import source

_FRAME_RE = re.compile(r"frame=\s*(\d+)")


def find_ffmpeg() -> str:
    """The ffmpeg the server will use (PATH or the imageio-ffmpeg wheel); fails with a hint."""
    try:
        return media.find_ffmpeg()
    except ConfigError as exc:
        pytest.fail(exc.message, pytrace=False)


def make_webm(ffmpeg: str, path: Path, seconds: float, bitrate: int = 800_000) -> bytes:
    """A live-style WebM like MediaRecorder's (VP8 + Opus, a keyframe every second, no Duration
    and no Cues), written to `path` by simulate's `source_args`."""
    args = source.source_args(ffmpeg, "vp8", bitrate, seconds, path)
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    return path.read_bytes()


def cut(data: bytes, pieces: int, seed: int = 7) -> list[bytes]:
    """Cut `data` into exactly `pieces` pieces at seeded arbitrary byte offsets (simulate's
    `cut`, which takes a piece size: asked for the size that gives this count)."""
    out = source.cut(data, round(len(data) / pieces), seed)
    assert len(out) == pieces, f"{len(data)} bytes do not cut into {pieces} pieces"
    return out


@dataclass(frozen=True)
class Probe:
    """What a test checks of a media file: the header's duration and the video frames."""

    duration_s: float | None
    video_frames: int


def probe(ffmpeg: str, path: Path) -> Probe:
    """Duration from the container header (None when it has none, as MediaRecorder's output)
    and the video frame count, from one packet-copy run of simulate's `count_args`.

    Not simulate's `measure`: that one is async and falls back to the last packet time when
    the header has no Duration, so it cannot tell a seekable final from a live stream."""
    done = subprocess.run(source.count_args(ffmpeg, path), capture_output=True, text=True,
                          check=True, timeout=120)  # fmt: skip
    info = media.parse_probe(done.stderr)
    frames = _FRAME_RE.findall(done.stderr)
    assert frames, f"ffmpeg counted no video frames in {path}:\n{done.stderr[-2000:]}"
    duration = None if info.duration_ms is None else info.duration_ms / 1000
    return Probe(duration, int(frames[-1]))
