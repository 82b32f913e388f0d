"""Test media: long recordings made once by ffmpeg and cached, prefixes of them, and
ffmpeg's own remux time (the floor for stop-to-finished)."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from lab import FINALIZE_BITRATE, say


def cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("screenrec"))


def long_source(minutes: int, ffmpeg: str) -> Path:
    """A live WebM (no Duration, no Cues) of `minutes` at 1 Mbit/s VP8 640x360 + Opus: made
    once with ffmpeg and cached."""
    path = cache_dir() / f"bench-{minutes:g}min-{FINALIZE_BITRATE}.webm"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    say(f"making {path.name} with ffmpeg (once; a few minutes for 60 minutes of media)")
    args = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(minutes * 60), "-c:v", "libvpx", "-deadline", "realtime",
        "-cpu-used", "8", "-b:v", FINALIZE_BITRATE, "-g", "30", "-c:a", "libopus",
        "-live", "1", "-f", "webm", str(part),
    ]  # fmt: skip
    began = time.monotonic()
    try:
        subprocess.run(args, check=True, timeout=3600)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(path)
    say(
        f"made {path.name} ({path.stat().st_size / 1e6:.0f} MB) in {time.monotonic() - began:.0f} s"
    )
    return path


def prefix_of(source: Path, size: int, dest: Path) -> Path:
    """The first `size` bytes of `source` (a WebM cut like MediaRecorder would, header first)."""
    with source.open("rb") as src:
        data = src.read(size)
    if len(data) < size:
        raise SystemExit(f"{source} has fewer than {size} bytes")
    dest.write_bytes(data)
    return dest


def remux_floor(ffmpeg: str, source: Path, scratch: Path, runs: int = 3) -> dict[str, Any]:
    """ffmpeg's own `-c copy -cues_to_front 1` remux of the joined file, on tmpfs: the floor for
    stop-to-finished."""
    joined, out = scratch / "joined.webm", scratch / "out.webm"
    shutil.copyfile(source, joined)
    times = []
    try:
        for _ in range(runs):
            began = time.perf_counter()
            subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                            "-i", str(joined), "-map", "0", "-c", "copy", "-cues_to_front", "1",
                            str(out)], check=True, timeout=600)  # fmt: skip
            times.append(time.perf_counter() - began)
    finally:
        joined.unlink(missing_ok=True)
        out.unlink(missing_ok=True)
    return {"median_s": round(statistics.median(times), 3), "runs_s": [round(t, 3) for t in times]}


# ------------------------------------------------------------------------- workloads ---
