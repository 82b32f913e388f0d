"""The Socket.IO load client behind `screenrec simulate`, also used by tests and bench scripts.

A pure client: python-socketio over websocket, aiohttp for downloads, ffmpeg through `media`.
It never imports the server or the service, so it measures any server that speaks the protocol.

    report = await run(SimulateOptions(url="http://127.0.0.1:8000", clients=50, realtime=True))
    report.ok, report.to_dict()
"""

from __future__ import annotations

import asyncio
import os
import resource
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from screenrec import media
from screenrec.simulate.options import SimulateError, SimulateOptions
from screenrec.simulate.recorder import Recorder, RunState
from screenrec.simulate.report import Report
from screenrec.simulate.source import (
    MediaFacts,
    check_final,
    cut,
    fixed_cut,
    make_media,
    measure,
)

__all__ = ["Report", "SimulateError", "SimulateOptions", "run", "run_sync"]


async def _reachable(url: str, timeout: float) -> None:
    """Fail fast, with the reason, when nothing listens at `url`."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(parts.hostname, port)
    except TimeoutError:
        raise SimulateError(f"cannot connect to {url}: timed out") from None
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise SimulateError(f"cannot connect to {url}: {reason}") from None
    writer.close()
    await writer.wait_closed()


async def _verify_one(run: RunState, ffmpeg: str, source: MediaFacts, record_id: str,
                      answer: dict[str, Any], folder: Path) -> str | None:  # fmt: skip
    """Download one final and compare it with the source; the problem, or None if it matches."""
    name = source.final().file_name
    url = urljoin(run.options.server_url, answer.get("downloadUrl") or
                  f"/recordings/download/{record_id}%2F{name}")  # fmt: skip
    path = folder / f"{record_id}-{name}"
    try:
        async with run.http.get(url) as resp:
            if resp.status != 200:
                return f"download {url} answered {resp.status}"
            with path.open("wb") as out:
                async for block in resp.content.iter_chunked(1 << 20):
                    await asyncio.to_thread(out.write, block)
    except aiohttp.ClientError as exc:
        return f"download {url} failed: {exc}"
    try:
        return await check_final(ffmpeg, source, path, url)
    finally:
        path.unlink()


async def _verify_all(run: RunState, ffmpeg: str, source: MediaFacts) -> None:
    """Check every ready recording, a few ffmpeg runs at a time."""
    slots = asyncio.Semaphore(os.cpu_count() or 2)

    async def check(record_id: str, answer: dict[str, Any], folder: Path) -> None:
        async with slots:
            problem = await _verify_one(run, ffmpeg, source, record_id, answer, folder)
        if problem:
            run.report.verify_failed += 1
            run.report.fail(f"{record_id}: verify: {problem}")
        else:
            run.report.verified += 1

    with tempfile.TemporaryDirectory(prefix="screenrec-verify-") as folder:
        await asyncio.gather(*(check(rid, doc, Path(folder)) for rid, doc in run.finished))


async def _tick(report: Report, on_progress: Callable[[str], None], every: float) -> None:
    last_time, last_bytes = time.perf_counter(), 0
    while True:
        await asyncio.sleep(every)
        now, acked = time.perf_counter(), report.bytes_acked
        on_progress(report.progress_line((acked - last_bytes) / (now - last_time) / 1e6))
        last_time, last_bytes = now, acked


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(options: SimulateOptions, on_progress: Callable[[str], None] | None = None) -> Report:
    """Run the recorders to the end and return what was measured (verification included).

    Raises SimulateError if the run cannot start (bad options, no server, no media)."""
    options.check()
    await _reachable(options.server_url, min(options.timeout, 10))
    ffmpeg = media.find_ffmpeg(options.ffmpeg)
    path = options.media or await make_media(ffmpeg, options)
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise SimulateError(f"cannot read {path}: {exc.strerror}") from None
    source = await measure(ffmpeg, path) if options.verify or options.media else None
    seconds = source.duration_s if options.media and source else options.duration
    if source is not None:
        try:
            source.final()  # the container and codecs a server can finalize, or why not
        except SimulateError as exc:
            raise SimulateError(f"{path}: {exc}") from None
    if not data or not seconds:
        raise SimulateError(f"{path} has no media ffmpeg can read")
    piece = options.chunk_bytes or max(1, round(len(data) / seconds * options.interval))
    pieces = fixed_cut(data, piece) if options.chunk_bytes else cut(data, piece, options.seed)
    report = Report(options.clients, options.realtime, options.interval, options.verify)
    run_id = f"{os.getpid()}-{secrets.token_hex(2)}"  # unique across parallel processes
    bearer = {"Authorization": f"Bearer {options.token}"} if options.token else None
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), headers=bearer
    ) as http:
        state = RunState(options, pieces, report, http, run_id)
        ticker = asyncio.create_task(_tick(report, on_progress, 0.5)) if on_progress else None
        began, cpu = time.perf_counter(), _cpu_seconds()
        try:
            await asyncio.gather(*(Recorder(state, n).record() for n in range(options.clients)))
        finally:
            report.wall_s, report.cpu_s = time.perf_counter() - began, _cpu_seconds() - cpu
            if ticker:
                ticker.cancel()
        if options.verify and source is not None:
            await _verify_all(state, ffmpeg, source)
    return report


def run_sync(options: SimulateOptions, on_progress: Callable[[str], None] | None = None) -> Report:
    """`run` in a fresh event loop (uvloop's when it is installed)."""
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(run(options, on_progress))
