"""The reference design issue 4's targets were set with: python-socketio + aiohttp, every chunk
written and fsynced inline on the event loop, an in-memory counter, no state store, no checks.

    python bench/minimal_server.py --port 0 --dir DIR

Not a server to use (nothing survives a restart, nothing is validated); the benchmark runs it
beside screenrec and the Node baseline (`bench/run.py --servers screenrec,node,minimal`) to
show what the same design reaches on the machine at hand. It speaks the spec's events:
`started`, `chunkSaved`, and `finished` after an `ffmpeg -c copy -cues_to_front 1` remux.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

import socketio
from aiohttp import web

NS = "/recording"


def build(root: Path, ffmpeg: str) -> web.Application:
    sio = socketio.AsyncServer(
        async_mode="aiohttp", transports=["websocket"], max_http_buffer_size=64 << 20
    )
    app = web.Application()
    sio.attach(app)
    counters: dict[str, int] = {}

    @sio.on("start", namespace=NS)
    async def start(sid: str, data: dict) -> None:
        rid = data["recordId"]
        (root / rid).mkdir(exist_ok=True)
        counters.setdefault(rid, 0)
        await sio.emit("started", {"recordId": rid}, to=sid, namespace=NS)

    @sio.on("chunk", namespace=NS)
    async def chunk(sid: str, data: dict) -> None:
        rid = data["recordId"]
        index = counters[rid]
        counters[rid] = index + 1
        fd = os.open(root / rid / f"chunk-{index}.webm", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            os.write(fd, data["chunk"])
            os.fsync(fd)
        finally:
            os.close(fd)
        await sio.emit("chunkSaved", {"recordId": rid, "index": index}, to=sid, namespace=NS)

    @sio.on("stop", namespace=NS)
    async def stop(sid: str, data: dict) -> None:
        rid = data["recordId"]
        directory = root / rid
        proc = await asyncio.create_subprocess_exec(
            ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "webm", "-i", "pipe:0",
            "-map", "0", "-c", "copy", "-cues_to_front", "1", str(directory / "final.webm"),
            stdin=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdin is not None
        for index in range(counters[rid]):
            proc.stdin.write((directory / f"chunk-{index}.webm").read_bytes())
            await proc.stdin.drain()
        proc.stdin.close()
        await proc.wait()
        url = f"/recordings/download/{rid}%2Ffinal.webm"
        await sio.emit("finished", {"recordId": rid, "downloadUrl": url}, to=sid, namespace=NS)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--ffmpeg", default="ffmpeg")
    args = parser.parse_args()

    async def serve() -> None:
        runner = web.AppRunner(build(args.dir, args.ffmpeg))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        print(f"minimal listening on http://{host}:{port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
