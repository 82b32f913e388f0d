"""The load client: screenrec simulate's library in separate client processes, merged."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import ANSWER_TIMEOUT, ROOT, Lab, Sampler, stop_pid, tail

RUN = Path(__file__).with_name("run.py")  # its --client-worker mode runs client_worker()


def client_worker(options_json: str, out_path: str) -> None:
    """One client process: screenrec simulate's library, raw numbers to `out_path` as JSON."""
    from screenrec.simulate import SimulateOptions, run_sync

    raw = json.loads(options_json)
    if raw.get("media"):
        raw["media"] = Path(raw["media"])
    options = SimulateOptions(**raw)
    captured: dict[str, Any] = {}

    # the library's Report keeps the raw samples; run_sync returns it
    report = run_sync(options)
    captured["summary"] = report.to_dict()
    captured["ack"] = report.ack_latencies
    captured["lags"] = report.send_lags
    captured["stops"] = report.stop_latencies
    captured["first_offer"] = report.first_offer  # time.perf_counter(): CLOCK_MONOTONIC on Linux
    captured["last_offer"] = report.last_offer
    captured["last_ack"] = report.last_ack
    captured["cpu_s"] = report.cpu_s
    captured["wall_s"] = report.wall_s
    Path(out_path).write_text(json.dumps(captured))


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile in ms, as simulate computes it."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000, 2)


@dataclass
class ClientRun:
    """What the client processes of one workload measured, merged."""

    parts: list[dict[str, Any]]

    def total(self, key: str) -> int:
        return sum(p["summary"][key] for p in self.parts)

    @property
    def ack(self) -> list[float]:
        return [x for p in self.parts for x in p["ack"]]

    @property
    def lags(self) -> list[float]:
        return [x for p in self.parts for x in p["lags"]]

    @property
    def stops(self) -> list[float]:
        return [x for p in self.parts for x in p["stops"]]

    def failures(self) -> list[str]:
        return [f for p in self.parts for f in p["summary"]["failures"]][:10]

    def errors(self) -> int:
        return sum(p["summary"]["errors"]["total"] for p in self.parts)

    def summary(self) -> dict[str, Any]:
        offered, acked = self.total("chunksOffered"), self.total("chunksAcked")
        parts = [p["summary"] for p in self.parts]
        rate = [p.get("offeredChunksPerS") for p in parts]
        acked_rate = [p.get("ackedChunksPerS") for p in parts]
        return {
            "processes": len(self.parts),
            "clients": self.total("clients"),
            "recordings": self.total("recordings"),
            "chunksOffered": offered,
            "chunksAcked": acked,
            "ackedOverOffered": round(acked / offered, 4) if offered else None,
            "offeredChunksPerS": round(sum(r for r in rate if r), 2) if all(rate) else None,
            "ackedChunksPerS": round(sum(r for r in acked_rate if r), 2)
            if all(acked_rate)
            else None,
            "mbPerS": round(sum(p["mbPerS"] or 0 for p in parts), 2),
            "ackMs": {
                "p50": pct(self.ack, 50),
                "p99": pct(self.ack, 99),
                "max": pct(self.ack, 100),
            },
            "stopToFinishedMs": {"p50": pct(self.stops, 50), "max": pct(self.stops, 100)},
            "sendLagMs": {"p99": pct(self.lags, 99), "max": pct(self.lags, 100)},
            "clientCpuPercent": [p["clientCpuPercent"] for p in parts],
            "clientCpuS": round(sum(p["clientCpuS"] for p in parts), 2),
            "errors": self.errors(),
            "failures": self.failures(),
        }


def run_clients(lab: Lab, url: str, options: dict[str, Any], splits: list[int], limit: float,
                tag: str, sampler: Sampler | None = None) -> ClientRun:  # fmt: skip
    """Run `len(splits)` client processes at once (clients per process in `splits`)."""
    procs: list[tuple[subprocess.Popen[Any], Path]] = []
    try:
        for n, clients in enumerate(splits):
            out = lab.scratch / f"client-{tag}-{n}.json"
            out.unlink(missing_ok=True)
            opts = {**options, "url": url, "clients": clients, "id_prefix": f"{tag}{n}",
                    "answers": "event", "timeout": ANSWER_TIMEOUT}  # fmt: skip
            log = lab.scratch / "logs" / f"client-{tag}-{n}.log"
            proc = lab._spawn([sys.executable, str(RUN), "--client-worker",
                               json.dumps(opts), str(out)], log, cwd=ROOT)  # fmt: skip
            procs.append((proc, out))
            if sampler is not None:
                sampler.watch(f"client{n}", proc.pid)
        end = time.monotonic() + limit
        for proc, _ in procs:
            try:
                proc.wait(max(1.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"client processes of {tag} ran over {limit:.0f} s") from None
        parts = []
        for proc, out in procs:
            if not out.exists():
                log = lab.scratch / "logs" / f"client-{tag}-{procs.index((proc, out))}.log"
                raise RuntimeError(f"client process failed ({proc.returncode}):\n{tail(log)}")
            parts.append(json.loads(out.read_text()))
        return ClientRun(parts)
    finally:
        for proc, _ in procs:
            stop_pid(proc, grace=2)
            with contextlib.suppress(ValueError):
                lab.running.remove(proc)


def splits_for(clients: int) -> list[int]:
    """Clients per client process: one process below 200 clients, then 2, then 3."""
    processes = 1 if clients < 200 else 2 if clients < 400 else 3
    return [clients // processes + (1 if k < clients % processes else 0) for k in range(processes)]


# --------------------------------------------------------------------------- media ---
