"""Report: what one run measured, its JSON form, and the live progress line."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

_MAX_FAILURES = 20
_QUANTILES = (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))


def _pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile in milliseconds (None when there are no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000, 2)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _rate(count: float, start: float | None, end: float | None) -> float | None:
    return round(count / (end - start), 2) if start is not None and end and end > start else None


@dataclass(slots=True)
class Report:
    """Everything measured in one run; filled in live while it runs."""

    clients: int
    realtime: bool
    interval: float
    verify: bool = False
    connected: int = 0
    ready: int = 0
    failed: int = 0
    chunks_offered: int = 0
    chunks_acked: int = 0
    bytes_offered: int = 0
    bytes_acked: int = 0
    ack_latencies: list[float] = field(default_factory=list)
    stop_latencies: list[float] = field(default_factory=list)
    send_lags: list[float] = field(default_factory=list)
    errors_by_code: Counter[str] = field(default_factory=Counter)
    errors_by_kind: Counter[str] = field(default_factory=Counter)
    verified: int = 0
    verify_failed: int = 0
    failures: list[str] = field(default_factory=list)
    first_offer: float | None = None
    last_offer: float | None = None
    last_ack: float | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0

    def fail(self, message: str, kind: str | None = None, count: int = 1) -> None:
        """Note a failure: `kind` (timeout, disconnect, connect) goes into errors by kind."""
        if kind:
            self.errors_by_kind[kind] += count
        if len(self.failures) < _MAX_FAILURES:
            self.failures.append(message)

    @property
    def ok(self) -> bool:
        """True when every recording finished, every chunk was acked, nothing failed."""
        return (
            self.ready == self.clients
            and self.chunks_acked == self.chunks_offered
            and not self.errors_by_code
            and not self.errors_by_kind
            and (not self.verify or self.verified == self.ready)
        )

    def _spans(self) -> tuple[float | None, float | None]:
        """Ends of the offered and the acked span (both start at the first offer). Realtime
        offers follow a schedule, one interval per chunk; acks that trail it lower the acked
        rate. Otherwise offers wait for acks, so both rates share one span."""
        if not self.realtime or self.last_offer is None:
            return self.last_ack, self.last_ack
        offered = self.last_offer + self.interval
        return offered, max(offered, self.last_ack or offered)

    def to_dict(self) -> dict[str, Any]:
        """The summary as `--json` prints it; keys are stable (None when not measured)."""
        offer_end, ack_end = self._spans()
        lat, lags = self.ack_latencies, self.send_lags
        return {
            "ok": self.ok,
            "clients": self.clients,
            "connected": self.connected,
            "recordings": self.ready,
            "recordingsFailed": self.failed,
            "chunksOffered": self.chunks_offered,
            "chunksAcked": self.chunks_acked,
            "bytesOffered": self.bytes_offered,
            "bytesAcked": self.bytes_acked,
            "offeredChunksPerS": _rate(self.chunks_offered, self.first_offer, offer_end),
            "ackedChunksPerS": _rate(self.chunks_acked, self.first_offer, ack_end),
            "mbPerS": _rate(self.bytes_acked / 1e6, self.first_offer, ack_end),
            "ackLatencyMs": {q: _pct(lat, n) for q, n in _QUANTILES},
            "stopToFinishedMs": {"p50": _pct(self.stop_latencies, 50),
                                 "max": _pct(self.stop_latencies, 100)},
            "sendLagMs": {"p99": _pct(lags, 99), "max": _pct(lags, 100)} if self.realtime else None,
            "clientCpuS": round(self.cpu_s, 2),
            "clientCpuPercent": round(100 * self.cpu_s / self.wall_s, 1) if self.wall_s else None,
            "errors": {
                "total": self.errors_by_code.total() + self.errors_by_kind.total(),
                "byCode": dict(self.errors_by_code),
                "byKind": dict(self.errors_by_kind),
            },
            "verify": {"passed": self.verified, "failed": self.verify_failed}
            if self.verify
            else None,
            "failures": self.failures,
        }  # fmt: skip

    def rows(self) -> list[tuple[str, str]]:
        """The summary as (label, value) rows for a table."""
        d = self.to_dict()
        lat, stop, lag = d["ackLatencyMs"], d["stopToFinishedMs"], d["sendLagMs"]
        problems = {**d["errors"]["byKind"], **d["errors"]["byCode"]}
        rows = [
            ("clients", f"{self.clients} ({self.connected} connected)"),
            ("recordings", f"{self.ready} ready, {self.failed} failed"),
            ("chunks offered / acked", f"{self.chunks_offered} / {self.chunks_acked}"),
            ("chunk rate offered / acked",
             f"{_num(d['offeredChunksPerS'])} / {_num(d['ackedChunksPerS'])} per s"),
            ("MB sent", f"{self.bytes_offered / 1e6:.1f}"),
            ("MB/s acked", _num(d["mbPerS"])),
            ("ack latency p50 / p95 / p99 / max", " / ".join(map(_num, lat.values())) + " ms"),
            ("stop to finished p50 / max", f"{_num(stop['p50'])} / {_num(stop['max'])} ms"),
            ("client CPU", f"{self.cpu_s:.2f} s ({_num(d['clientCpuPercent'])} % of one core)"),
            ("errors", ", ".join(f"{k} {v}" for k, v in problems.items()) or "none"),
        ]  # fmt: skip
        if lag is not None:
            rows.insert(8, ("send lag p99 / max", f"{_num(lag['p99'])} / {_num(lag['max'])} ms"))
        if self.verify:
            rows.append(("verified", f"{self.verified} passed, {self.verify_failed} failed"))
        return rows

    def progress_line(self, mb_per_s: float) -> str:
        """One status line: acked/offered, current MB/s, p50/p99 of the latest acks."""
        recent = self.ack_latencies[-1000:]
        errors = self.errors_by_code.total() + self.errors_by_kind.total()
        return (
            f"{self.chunks_acked}/{self.chunks_offered} chunks acked  {mb_per_s:.1f} MB/s  "
            f"p50 {_num(_pct(recent, 50))} ms  p99 {_num(_pct(recent, 99))} ms  "
            f"{self.ready + self.failed}/{self.clients} done  {errors} errors"
        )
