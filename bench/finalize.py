"""Stop-to-finished time and peak server RSS for a long recording streamed as 1-second pieces.

    python bench/finalize.py [--minutes 10] [--bitrate 1M] [--data-dir /dev/shm/screenrec-bench]

Makes (and caches) a live WebM with ffmpeg, starts `screenrec serve` on a free port, streams
the file as one piece per second of media (8 in flight, as fast as acks allow), then times
`stop` -> `finished` and reads the server's peak RSS (VmHWM) before and after finalize.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import platformdirs
import socketio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from screenrec.media import find_ffmpeg  # noqa: E402
from tests.conftest import cut, start_server  # noqa: E402


def source(minutes: float, bitrate: str) -> Path:
    cache = Path(platformdirs.user_cache_dir("screenrec")) / f"bench-{minutes:g}min-{bitrate}.webm"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        args = [
            find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin",
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(minutes * 60), "-c:v", "libvpx", "-deadline", "realtime",
            "-cpu-used", "8", "-b:v", bitrate, "-g", "30", "-c:a", "libopus",
            "-live", "1", "-f", "webm", str(cache) + ".part",
        ]  # fmt: skip
        subprocess.run(args, check=True)
        Path(str(cache) + ".part").rename(cache)
    return cache


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def stream(url: str, pieces: list[bytes], window: int) -> tuple[float, dict]:
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(url, namespaces=["/recording"], transports=["websocket"])
    await sio.call("start", {"recordId": "bench"}, namespace="/recording")
    slots = asyncio.Semaphore(window)

    async def send(seq: int, piece: bytes) -> None:
        async with slots:
            answer = await sio.call(
                "chunk", {"recordId": "bench", "chunk": piece, "seq": seq},
                namespace="/recording", timeout=60,
            )  # fmt: skip
            assert "index" in answer, answer

    await asyncio.gather(*(send(i, p) for i, p in enumerate(pieces)))
    started = time.perf_counter()
    finished = await sio.call("stop", {"recordId": "bench"}, namespace="/recording", timeout=600)
    elapsed = time.perf_counter() - started
    await sio.disconnect()
    return elapsed, finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--bitrate", default="1M")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    media = source(args.minutes, args.bitrate)
    data = media.read_bytes()
    pieces = cut(data, int(args.minutes * 60), seed=1)
    base = args.data_dir or Path(tempfile.mkdtemp(prefix="screenrec-bench-", dir="/dev/shm"))
    rows = []
    for run in range(args.runs):
        data_dir = base / f"run{run}"
        server = start_server(data_dir)
        try:
            rss_before = peak_rss_mib(server.proc.pid)
            seconds, finished = asyncio.run(stream(server.url, pieces, window=8))
            rss_after = peak_rss_mib(server.proc.pid)
        finally:
            server.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
        assert finished.get("status") == "ready", finished
        rows.append(
            {"run": run, "stop_to_finished_s": round(seconds, 3),
             "peak_rss_mib_ingest": round(rss_before, 1), "peak_rss_mib_total": round(rss_after, 1),
             "chunks": finished["chunks"], "mb": round(len(data) / 1e6, 1),
             "duration_s": finished["durationMs"] / 1000}
        )  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    best = sorted(r["stop_to_finished_s"] for r in rows)
    print(f"median stop-to-finished {best[len(best) // 2]:.3f} s over {len(rows)} runs; "
          f"peak RSS {max(r['peak_rss_mib_total'] for r in rows):.1f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
