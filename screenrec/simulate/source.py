"""The media a run streams: made once by ffmpeg and cached, cut like MediaRecorder cuts it,
and measured (duration, video frames) for verification."""

from __future__ import annotations

import itertools
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from screenrec import media
from screenrec.simulate.options import CODECS, SimulateError, SimulateOptions

_FRAME_RE = re.compile(r"frame=\s*(\d+)")
_TIME_RE = re.compile(r"time=(\d+):(\d\d):(\d\d(?:\.\d+)?)")


def source_args(ffmpeg: str, codec: str, bitrate: int, seconds: float, output: Path) -> list[str]:
    """A MediaRecorder-like WebM: test pattern + tone, a keyframe every second, written live
    (`-live 1`) so it has no Duration and no Cues."""
    size = "320x240" if bitrate < 1e6 else "640x360" if bitrate < 4e6 else "1280x720"
    return [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", f"{seconds:g}",
        "-c:v", CODECS[codec], "-deadline", "realtime", "-cpu-used", "8", "-b:v", str(bitrate),
        "-g", "30", "-keyint_min", "30", "-c:a", "libopus", "-b:a", "64k",
        "-live", "1", "-f", "webm", str(output),
    ]  # fmt: skip


def count_args(ffmpeg: str, path: Path) -> list[str]:
    """Copy the video packets to nowhere: stderr ends with `frame=N ... time=T`."""
    return [ffmpeg, "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v", "-c", "copy",
            "-f", "null", "-"]  # fmt: skip


async def make_media(ffmpeg: str, options: SimulateOptions) -> Path:
    """The generated source for these options, made once and kept in the user cache dir."""
    name = f"simulate-{options.codec}-{options.bitrate}bps-{options.duration:g}s.webm"
    path = Path(platformdirs.user_cache_dir("screenrec")) / name
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{name}.{os.getpid()}.part")  # parallel runs never share a part
    args = source_args(ffmpeg, options.codec, options.bitrate, options.duration, part)
    result = await media.run_ffmpeg(args, timeout=120 + 10 * options.duration)
    if result.returncode != 0:
        part.unlink(missing_ok=True)
        raise SimulateError(f"ffmpeg could not make the test media: {result.stderr.strip()}")
    part.replace(path)
    return path


@dataclass(frozen=True, slots=True)
class MediaFacts:
    """What verification compares: duration and the number of video frames."""

    duration_s: float | None
    frames: int | None


async def measure(ffmpeg: str, path: Path) -> MediaFacts:
    """Duration (the header's, else the last packet time) and video frame count of a file."""
    result = await media.run_ffmpeg(count_args(ffmpeg, path), timeout=300)
    info = media.parse_probe(result.stderr)
    frames = _FRAME_RE.findall(result.stderr)
    duration = info.duration_ms / 1000 if info.duration_ms is not None else None
    if duration is None and (times := _TIME_RE.findall(result.stderr)):
        h, m, s = times[-1]
        duration = int(h) * 3600 + int(m) * 60 + float(s)
    return MediaFacts(duration, int(frames[-1]) if frames else None)


def cut(data: bytes, piece: int, seed: int) -> list[bytes]:
    """Cut `data` into pieces of about `piece` bytes at seeded arbitrary offsets (not element
    boundaries, like MediaRecorder's blobs). Each piece is made once and sent by every client."""
    count = max(1, round(len(data) / piece))
    rng = random.Random(seed)
    step = len(data) / count
    bounds = [0]
    for k in range(1, count):  # each boundary moves up to a quarter piece either way
        offset = round(k * step + rng.uniform(-step / 4, step / 4))
        bounds.append(min(max(offset, bounds[-1] + 1), len(data) - (count - k)))
    bounds.append(len(data))
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def fixed_cut(data: bytes, size: int) -> list[bytes]:
    """Pieces of exactly `size` bytes (the last one shorter)."""
    return [data[i : i + size] for i in range(0, len(data), size)]
