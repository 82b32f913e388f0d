"""The workloads, each against one server kind: single client, load, finalize, profile."""

from __future__ import annotations

import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from clients import run_clients, splits_for
from lab import ANSWER_TIMEOUT, CHUNK_256K, LOAD_CHUNK, Lab, Sampler, mib, say, stop_pid, tail


def bench_single(lab: Lab, kind: str, media: Path, window: int,
                 storage_base: Path | None = None) -> dict[str, Any]:  # fmt: skip
    with lab.server(kind, storage_base) as server, Sampler(server.pids, 0.02) as sampler:
        began = time.monotonic()
        options = {"media": str(media), "chunk_bytes": CHUNK_256K, "window": window}
        result = run_clients(lab, server.url, options, [1], 300, f"s{window}", sampler)
        ended = time.monotonic()
        s = result.summary()
        part = result.parts[0]
        row = {
            "mbPerS": s["mbPerS"], "ackP50Ms": s["ackMs"]["p50"], "ackP99Ms": s["ackMs"]["p99"],
            "chunksAcked": s["chunksAcked"], "chunksOffered": s["chunksOffered"],
            "errors": s["errors"], "failures": s["failures"],
            # CPU while streaming (first offer to last ack), % of one core; 10 ms ticks
            "clientCpuPercent": sampler.cpu_percent("client0", part["first_offer"] or began,
                                                    part["last_ack"] or ended),
            "serverCpuPercent": sampler.cpu_percent("server", part["first_offer"] or began,
                                                    part["last_ack"] or ended),
            "serverMainThreadCpuPercent": sampler.cpu_percent(
                "server:main", part["first_offer"] or began, part["last_ack"] or ended),
            "peakRssMiB": server.peak_rss_mib(),
            "loadavgBefore": lab.loadavg,
        }  # fmt: skip
    say(
        f"  {kind} window {window}: {row['mbPerS']} MB/s, ack p50 {row['ackP50Ms']} ms, "
        f"p99 {row['ackP99Ms']} ms, {row['chunksAcked']}/{row['chunksOffered']} acked"
    )
    return row


def guarded(fn: Any, *args: Any) -> dict[str, Any]:
    """`fn(*args)`, or {"error": ...} when it fails (the rest of the run goes on)."""
    try:
        return fn(*args)
    except Exception as exc:
        say(f"  FAILED: {fn.__name__}: {type(exc).__name__}: {exc}")
        FAILURES.append(f"{fn.__name__}{[a for a in args[1:] if not isinstance(a, dict)]}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"[:4000]}


FAILURES: list[str] = []


def median_run(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median MB/s (its latencies with it), plus every run's MB/s."""
    rows = [r for r in rows if "error" not in r] or rows[:1]
    if "error" in rows[0]:
        return rows[0]
    ordered = sorted(rows, key=lambda r: r["mbPerS"] or 0)
    return {**ordered[(len(ordered) - 1) // 2], "runsMbPerS": [r["mbPerS"] for r in rows],
            "errors": sum(r["errors"] for r in rows)}  # fmt: skip


def bench_load(lab: Lab, kind: str, media: Path, clients: int, seconds: int,
               storage_base: Path | None = None) -> dict[str, Any]:  # fmt: skip
    options = {"media": str(media), "chunk_bytes": LOAD_CHUNK, "realtime": True, "interval": 1.0}
    splits = splits_for(clients)
    with lab.server(kind, storage_base) as server, Sampler(server.pids, 0.25) as sampler:
        began = time.monotonic()
        result = run_clients(lab, server.url, options, splits, seconds + 4 * ANSWER_TIMEOUT + 120,
                             f"l{clients}", sampler)  # fmt: skip
        ended = time.monotonic()
        # The load phase: from 1.5 s after the last client process began offering (every
        # client has connected and started by then) to 0.5 s before the first client's
        # last chunk was due; stops and finalize come after it.
        firsts = [p["first_offer"] for p in result.parts if p["first_offer"]]
        start = max(firsts) + 1.5 if firsts else began + 5
        end = min(firsts) + (seconds - 1) - 0.5 if firsts else ended
        s = result.summary()
        row: dict[str, Any] = {
            "clients": clients, "clientProcesses": len(splits), "seconds": seconds,
            "ackedOverOffered": s["ackedOverOffered"],
            "chunksAcked": s["chunksAcked"], "chunksOffered": s["chunksOffered"],
            "offeredChunksPerS": s["offeredChunksPerS"], "ackedChunksPerS": s["ackedChunksPerS"],
            "ackP50Ms": s["ackMs"]["p50"], "ackP99Ms": s["ackMs"]["p99"],
            "ackMaxMs": s["ackMs"]["max"], "stopToFinishedP50Ms": s["stopToFinishedMs"]["p50"],
            "stopToFinishedMaxMs": s["stopToFinishedMs"]["max"],
            "serverCpuPercent": sampler.cpu_percent("server", start, end),
            "serverMainThreadCpuPercent": sampler.cpu_percent("server:main", start, end),
            "loadPhaseS": round(end - start, 1),
            "peakRssMiB": server.peak_rss_mib(),
            "loadavgBefore": lab.loadavg,
            "rssAtLoadEndMiB": sampler.max_rss_mib("server", start, end),
            "clientCpuPercent": [sampler.cpu_percent(f"client{n}", start, end)
                                 for n in range(len(splits))],
            "clientCpuPercentWholeRun": s["clientCpuPercent"],
            "sendLagP99Ms": s["sendLagMs"]["p99"],
            "sendLagMaxMs": s["sendLagMs"]["max"],
            "errors": s["errors"], "failures": s["failures"],
        }  # fmt: skip
        if "redis" in server.procs:
            row["redisCpuPercent"] = sampler.cpu_percent("redis", start, end)
            row["redisPeakRssMiB"] = server.peak_rss_mib("redis")
    say(
        f"  {kind} {clients} clients: {row['chunksAcked']}/{row['chunksOffered']} acked, "
        f"p50 {row['ackP50Ms']} p99 {row['ackP99Ms']} max {row['ackMaxMs']} ms, "
        f"CPU {row['serverCpuPercent']} %, peak RSS {row['peakRssMiB']} MiB, "
        f"client CPU {row['clientCpuPercent']} %, send lag p99 {row['sendLagP99Ms']} ms, "
        f"{row['errors']} errors"
    )
    return row


def finalize_once(lab: Lab, kind: str, media: Path, run: int) -> dict[str, Any]:
    """Stream `media` as 1-second pieces (8 in flight), then time stop -> finished."""
    options = {"media": str(media), "interval": 1.0, "window": 8}
    with lab.server(kind) as server, Sampler(server.pids, 0.05) as sampler:
        result = run_clients(lab, server.url, options, [1], 1800, f"f{run}")
        part = result.parts[0]
        s = result.summary()
        stop_s = part["stops"][0] if part["stops"] else None
        row = {
            "chunks": s["chunksAcked"], "stopToFinishedS": None if stop_s is None
            else round(stop_s, 3), "ingestMbPerS": s["mbPerS"],
            "peakRssMiB": server.peak_rss_mib(), "peakRssDuringFinalizeMiB": None,
            "loadavgBefore": lab.loadavg, "errors": s["errors"], "failures": s["failures"],
        }  # fmt: skip
        if stop_s is not None and part["last_ack"]:
            # the finalize window: from the last chunk's ack (stop goes out right after it)
            # to the answer; VmHWM covers ingest too, so the window's own peak is sampled
            a, b = part["last_ack"], part["last_ack"] + stop_s
            before = [r["server"][1] for t, r in sampler.samples if t < a]
            row["peakRssDuringFinalizeMiB"] = sampler.max_rss_mib("server", a - 0.05, b + 0.05)
            row["rssBeforeStopMiB"] = mib(before[-1]) if before and before[-1] else None
    say(
        f"  {kind} run {run + 1}: stop-to-finished {row['stopToFinishedS']} s, peak RSS during "
        f"finalize {row['peakRssDuringFinalizeMiB']} MiB, VmHWM {row['peakRssMiB']} MiB, "
        f"ingest {row['ingestMbPerS']} MB/s, {row['errors']} errors"
    )
    return row


def bench_finalize(
    lab: Lab, kind: str, media: Path, floor: dict[str, Any], runs: int
) -> dict[str, Any]:
    """`runs` fresh servers: the median stop-to-finished, the largest peaks."""
    rows = [finalize_once(lab, kind, media, run) for run in range(runs)]
    stops = [r["stopToFinishedS"] for r in rows if r["stopToFinishedS"] is not None]
    during = [r["peakRssDuringFinalizeMiB"] for r in rows if r["peakRssDuringFinalizeMiB"]]
    peaks = [r["peakRssMiB"] for r in rows if r["peakRssMiB"]]
    return {
        "mb": round(media.stat().st_size / 1e6, 1), "chunks": rows[0]["chunks"],
        "stopToFinishedS": round(statistics.median(stops), 3) if stops else None,
        "stopToFinishedRunsS": stops, "remuxFloorS": floor["median_s"],
        "peakRssDuringFinalizeMiB": max(during) if during else None,
        "peakRssMiB": max(peaks) if peaks else None,
        "errors": sum(r["errors"] for r in rows), "runs": rows,
    }  # fmt: skip


# --------------------------------------------------------------------------- profile ---


def profile_load(lab: Lab, media: Path, clients: int, seconds: int, out: Path) -> dict[str, Any]:
    """A separate, unmeasured run of the load workload with py-spy attached to screenrec (its
    sampling slows the server down, so it never overlaps a measured run)."""
    pyspy = Path(sys.executable).with_name("py-spy")
    if not pyspy.exists():
        raise SystemExit(f"--profile needs py-spy next to {sys.executable} (pip install py-spy)")
    options = {"media": str(media), "chunk_bytes": LOAD_CHUNK, "realtime": True, "interval": 1.0}
    duration = max(2, min(10, seconds - 6))
    raw = out / f"screenrec-load-{clients}.raw.txt"
    with lab.server("screenrec") as server:
        # starts 4 s in (every client connected and streaming), ends before the stops
        spy = lab._spawn(["sh", "-c", f'sleep 4 && exec "$0" record -p {server.pids["server"]} '
                          f'-d {duration} -r 100 -f raw -o "$1"', str(pyspy), str(raw)],
                         lab.scratch / "logs" / "py-spy.log")  # fmt: skip
        try:
            run_clients(lab, server.url, options, splits_for(clients),
                        seconds + 4 * ANSWER_TIMEOUT + 120, f"p{clients}")  # fmt: skip
            spy.wait(30)
        finally:
            stop_pid(spy, grace=2)
            lab.running.remove(spy)
    if not raw.exists():
        raise RuntimeError(f"py-spy wrote nothing:\n{tail(lab.scratch / 'logs' / 'py-spy.log')}")
    summary = summarize_profile(raw)
    summary["raw"] = str(raw)
    summary["seconds"] = duration
    return summary


def summarize_profile(raw: Path, top: int = 12) -> dict[str, Any]:
    """Where the samples fell: by thread kind, then self time in the event-loop thread and in
    the worker threads, and inclusive time of screenrec's own functions."""
    kinds: dict[str, int] = {}
    loop_self: dict[str, int] = {}
    worker_self: dict[str, int] = {}
    ours: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f.strip()) for f in stack.split(";")]
        names = [f.split(" (")[0] for f in frames]
        if "BaseEventLoop.run_forever" in names:
            kind, bucket = "event-loop thread", loop_self
        elif "_worker" in names:
            busy = "_WorkItem.run" in names
            kind = "worker threads, running a job" if busy else \
                "worker threads, in the job queue (waiting or waking)"  # fmt: skip
            bucket = worker_self
        else:
            kind, bucket = "other", worker_self
        kinds[kind] = kinds.get(kind, 0) + n
        bucket[frames[-1]] = bucket.get(frames[-1], 0) + n
        for frame in set(frames):
            if "(screenrec/" in frame:
                ours[frame] = ours.get(frame, 0) + n

    def share(d: dict[str, int]) -> list[tuple[str, float]]:
        ranked = sorted(d.items(), key=lambda kv: -kv[1])[:top]
        return [(k, round(100 * v / total, 1)) for k, v in ranked] if total else []

    return {"samples": total, "byThread": share(kinds), "loopSelf": share(loop_self),
            "workerSelf": share(worker_self), "screenrecInclusive": share(ours)}  # fmt: skip


# ---------------------------------------------------------------------------- table ---
