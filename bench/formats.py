"""Stop-to-finished by recorder format, side by side in one run: WebM VP8 and VP9, H.264 in
Matroska (Chrome `video/webm;codecs=h264`), fragmented MP4 H.264 + AAC (Safari) and H.264 +
Opus (Chrome `video/mp4`), each a `--minutes` take through the real service (SQLite, local
storage under `--dir`), plus ffmpeg's plain remux of the same bytes and what a poster costs.

    .venv/bin/python bench/formats.py [--minutes 10] [--dir /dev/shm] [--reps 3] [--formats ...]

Sources are made once by ffmpeg (640x360, 30 fps, 1 Mbit/s, a keyframe a second) and cached in
the user cache dir.
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
from screenrec.media.final import plan_output
from screenrec.media.poster import make_poster
from screenrec.service import RecordingService

VIDEO = ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"]
AUDIO = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
GOP = ["-g", "30", "-keyint_min", "30", "-b:v", "1M"]
VPX = ["-deadline", "realtime", "-cpu-used", "8"]
X264 = ["-c:v", "libx264", "-preset", "veryfast"]
FMP4 = ["-movflags", "+frag_keyframe+empty_moov+default_base_moof+skip_trailer", "-f", "mp4"]
FORMATS = {  # name: (container, video, audio, encoder arguments)
    "webm vp8+opus": ("webm", "vp8", "opus", ["-c:v", "libvpx", *VPX, *GOP, "-c:a", "libopus",
                                              "-live", "1", "-f", "webm"]),
    "webm vp9+opus": ("webm", "vp9", "opus", ["-c:v", "libvpx-vp9", *VPX, *GOP, "-c:a",
                                              "libopus", "-live", "1", "-f", "webm"]),
    "webm h264+opus": ("matroska", "h264", "opus", [*X264, *GOP, "-c:a", "libopus", "-live",
                                                    "1", "-f", "matroska"]),
    "fmp4 h264+aac": ("mp4", "h264", "aac", [*X264, *GOP, "-c:a", "aac", *FMP4]),
    "fmp4 h264+opus": ("mp4", "h264", "opus", [*X264, *GOP, "-c:a", "libopus", *FMP4]),
}  # fmt: skip


def source(ffmpeg: str, name: str, minutes: float) -> Path:
    import platformdirs

    slug = name.replace(" ", "-").replace("+", "-")
    path = Path(platformdirs.user_cache_dir("screenrec")) / f"bench-{slug}-{minutes:g}min.bin"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"making {path.name} (once)", file=sys.stderr, flush=True)
        args = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *VIDEO, *AUDIO,
                "-t", str(minutes * 60), *FORMATS[name][3], "pipe:1"]  # fmt: skip
        data = subprocess.run(args, check=True, capture_output=True).stdout
        path.write_bytes(data)
    return path


async def one_take(directory: Path, data: bytes, pieces: int) -> tuple[float, int]:
    """Stream `data` as `pieces` chunks through a fresh service; seconds from stop to ready."""
    service = RecordingService.open(Settings(data_dir=directory, stale_after=0))
    try:
        await service.start("take")
        step = len(data) // pieces + 1
        for offset in range(0, len(data), step):
            await service.add_chunk("take", data[offset : offset + step])
        began = time.perf_counter()
        rec = await service.stop("take")
        return time.perf_counter() - began, rec.duration_ms or 0
    finally:
        await service.close()


async def remux_alone(ffmpeg: str, name: str, src: Path, out: Path) -> float:
    container, video, audio, _ = FORMATS[name]
    plan = plan_output(container, video, audio)
    began = time.perf_counter()
    subprocess.run(plan.args(ffmpeg, out, str(src)), check=True, capture_output=True)
    return time.perf_counter() - began


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--dir", default="/dev/shm")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--formats", default=",".join(FORMATS), help="comma-separated, of: " + ", ".join(FORMATS)
    )
    options = parser.parse_args()
    ffmpeg = find_ffmpeg()
    rows = []
    for name in options.formats.split(","):
        src = source(ffmpeg, name, options.minutes)
        data = src.read_bytes()
        stops, remuxes, posters = [], [], []
        for _ in range(options.reps):  # interleave: the box's load hits every column alike
            with tempfile.TemporaryDirectory(dir=options.dir) as tmp:
                seconds, length = await one_take(
                    Path(tmp) / "data", data, int(options.minutes * 60)
                )
                stops.append(seconds)
                out = Path(tmp) / f"alone.{plan_output(*FORMATS[name][:3]).format}"
                remuxes.append(await remux_alone(ffmpeg, name, src, out))
                began = time.perf_counter()
                await make_poster(ffmpeg, out, length, Path(tmp) / "poster.jpg")
                posters.append(time.perf_counter() - began)
        plan = plan_output(*FORMATS[name][:3])
        rows.append((name, plan.file_name, plan.audio_codec or "-", plan.audio_reencoded,
                     len(data), stops, remuxes, posters))  # fmt: skip
    med = statistics.median
    print(f"\n{options.minutes:g}-minute takes, medians of {options.reps} (storage: {options.dir})")
    print(
        "| input | final | audio in final | MB | stop -> finished s | ffmpeg alone s | "
        "finished / ffmpeg | poster ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, final, audio, reencoded, size, stops, remuxes, posters in rows:
        audio_text = f"{audio} (re-encoded)" if reencoded else f"{audio} (copied)"
        print(
            f"| {name} | {final} | {audio_text} | {size / 1e6:.0f} | {med(stops):.2f} | "
            f"{med(remuxes):.2f} | {med(stops) / med(remuxes):.2f}x | "
            f"{med(posters) * 1000:.0f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
