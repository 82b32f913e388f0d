"""Many recordings stopped at the same moment: how long until every one is `ready`, with
finals written from the stream index and, in the same run, with ffmpeg (the index path
switched off), so the two are compared on the same box at the same load.

    .venv/bin/python bench/stop_burst.py [--recordings 500] [--seconds 30] [--dir /dev/shm]

Each recording is the same `--seconds` WebM (VP8 + Opus, 640x360, 1 Mbit/s) cut in one-second
chunks, streamed through the real service (SQLite, local storage under `--dir`), then all
are stopped at once.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from screenrec.config import Settings
from screenrec.media import find_ffmpeg
from screenrec.service import RecordingService


def source(ffmpeg: str, seconds: float, folder: Path) -> bytes:
    args = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
        "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M",
        "-g", "30", "-c:a", "libopus", "-live", "1", "-f", "webm", "pipe:1",
    ]  # fmt: skip
    return subprocess.run(args, check=True, capture_output=True).stdout


async def burst(folder: Path, data: bytes, count: int, seconds: float, index: bool) -> list[float]:
    """Stream `count` recordings, stop them all at once; seconds until each is ready."""
    service = RecordingService.open(Settings(data_dir=folder, stale_after=0))
    if not index:

        async def no_index(*args: object) -> None:
            return None

        service._from_index = no_index  # type: ignore[method-assign]
    step = len(data) // int(seconds) + 1
    pieces = [data[i : i + step] for i in range(0, len(data), step)]
    try:
        for n in range(count):
            await service.start(f"r{n}")
            for piece in pieces:
                await service.add_chunk(f"r{n}", piece)
        began = time.perf_counter()

        async def stop(record_id: str) -> float:
            await service.stop(record_id)
            return time.perf_counter() - began

        return list(await asyncio.gather(*(stop(f"r{n}") for n in range(count))))
    finally:
        await service.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recordings", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--dir", default="/dev/shm")
    options = parser.parse_args()
    ffmpeg = find_ffmpeg()
    with tempfile.TemporaryDirectory(dir=options.dir) as tmp:
        data = source(ffmpeg, options.seconds, Path(tmp))
        rows = []
        for label, index in (("index", True), ("ffmpeg", False)):
            times = await burst(Path(tmp) / label, data, options.recordings, options.seconds, index)
            rows.append((label, statistics.median(times), max(times)))
    print(
        f"\n{options.recordings} recordings of {options.seconds:g} s stopped at once "
        f"(storage: {options.dir})"
    )
    print("| final written by | ready p50 s | all ready s |")
    print("|---|---|---|")
    for label, p50, worst in rows:
        print(f"| {label} | {p50:.2f} | {worst:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
