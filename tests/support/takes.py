"""The WebM streams the index and writer tests read, made once per session: ffmpeg's live
samples (known-size Clusters), the same with every Cluster unknown-size as Chrome writes them,
a Firefox-like take (BlockGroups next to SimpleBlocks), a tiny one to split at every byte, a
longer one at 1 Mbit/s, and real Chromium MediaRecorder takes, kept as the blobs it sent."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support import chromium
from tests.support.ebml import unknown_size_clusters
from tests.support.media import make_webm
from tests.support.samples import SAMPLES, make

_SINE = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
_VP8 = ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-g", "30"]
_OPUS_LIVE = ["-c:a", "libopus", "-b:a", "32k", "-live", "1", "-f", "webm"]
# VP8 with an alpha plane: ffmpeg writes each video frame as a BlockGroup (the alpha is a
# BlockAddition; non-key frames carry a ReferenceBlock) and Opus as SimpleBlocks, in
# known-size Clusters; that is Firefox's mix. Its Info also has a Duration (0 when live).
_ALPHA = ["-pix_fmt", "yuva420p", "-auto-alt-ref", "0"]
RECIPES = {
    "firefox_like.webm": (["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", *_SINE,
                           "-t", "3", *_VP8, *_ALPHA, "-b:v", "500k", *_OPUS_LIVE]),
    "tiny.webm": (["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=15", *_SINE, "-t", "1",
                   *_VP8, *_ALPHA, "-b:v", "30k", *_OPUS_LIVE]),
}  # fmt: skip
FFMPEG = ["vp8_opus.webm", "vp9_opus.webm", "h264_opus.mkv", "opus.webm", "firefox_like.webm"]
UNKNOWN = [f"unknown-{name}" for name in FFMPEG if name != "firefox_like.webm"]
CHROMIUM = {
    "chromium-vp8.webm": "video/webm;codecs=vp8,opus",
    "chromium-vp9.webm": "video/webm;codecs=vp9,opus",
    "chromium-h264.webm": "video/webm;codecs=h264,opus",
    "chromium-opus.webm": "audio/webm;codecs=opus",
}
ALL = [*FFMPEG, *UNKNOWN, *CHROMIUM]


def stream(ffmpeg: str, factory: pytest.TempPathFactory, name: str) -> bytes:
    """The stream `name` (one of ALL, `tiny.webm`, `unknown-tiny.webm`, `long.webm`)."""
    if name.startswith("unknown-"):
        return unknown_size_clusters(stream(ffmpeg, factory, name.removeprefix("unknown-")))
    if name in SAMPLES:
        return make(ffmpeg, factory, name).read_bytes()
    if name in CHROMIUM:
        return b"".join(blobs(factory, name))
    path = factory.getbasetemp() / "webm-takes" / name
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        if name == "long.webm":  # 20 s, 640x360 VP8 at 1 Mbit/s + Opus, keyframe every second
            make_webm(ffmpeg, path, 20, bitrate=1_000_000)
        else:
            args = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", *RECIPES[name],
                    "pipe:1"]  # fmt: skip
            data = subprocess.run(args, check=True, capture_output=True, timeout=120).stdout
            path.write_bytes(data)
    return path.read_bytes()


def blobs(factory: pytest.TempPathFactory, name: str) -> list[bytes]:
    """Chromium's take `name` as the blobs MediaRecorder gave (timeslice 500 ms, 3 s),
    recorded once per session for all of CHROMIUM."""
    folder = factory.getbasetemp() / "chromium-takes"
    if not folder.exists():
        scratch = factory.mktemp("chromium-recorder")
        takes = chromium.record(scratch, CHROMIUM, seconds=3)
        for take, parts in takes.items():
            (folder / take).mkdir(parents=True)
            for n, part in enumerate(parts):
                (folder / take / f"{n:04d}.bin").write_bytes(part)
    parts = sorted((folder / name).glob("*.bin")) if (folder / name).exists() else []
    assert parts, f"Chromium did not record {CHROMIUM[name]}"
    return [part.read_bytes() for part in parts]


def remux(ffmpeg: str, source: Path, output: Path) -> Path:
    """ffmpeg's seekable final of `source`, as the service writes it today (Matroska for
    H.264, which ffmpeg's webm muxer refuses)."""
    fmt = "matroska" if "h264" in source.name else "webm"
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-i", str(source), "-map", "0", "-c", "copy", "-cues_to_front", "1",
                    "-f", fmt, str(output)], check=True, timeout=120)  # fmt: skip
    return output


def framemd5(ffmpeg: str, path: Path) -> list[str]:
    """Every packet of every stream: stream, dts, pts, duration, size, MD5 of its bytes."""
    args = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
            "-map", "0", "-c", "copy", "-f", "framemd5", "-"]  # fmt: skip
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout
    return [line for line in out.splitlines() if not line.startswith("#")]


def ffmpeg_log(ffmpeg: str, path: Path) -> str:
    """What ffmpeg says reading `path` (errors and warnings only)."""
    return subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning",
                           "-i", str(path), "-map", "0", "-c", "copy", "-f", "null", "-"],
                          capture_output=True, text=True, timeout=120).stderr  # fmt: skip


FRAME_MS = 34  # one frame at 30 fps, rounded up; Opus packets are 20 ms


def header_ms(ffmpeg: str, path: Path) -> int | None:
    """The Duration ffmpeg reads from the header, in ms."""
    stderr = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-i", str(path)],
                            capture_output=True, text=True).stderr  # fmt: skip
    m = re.search(r"Duration: (\d+):(\d\d):(\d\d\.\d+)", stderr)
    if not m:
        return None
    return round((int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))) * 1000)
