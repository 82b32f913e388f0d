"""Prometheus metrics: `GET /metrics` and the counters the namespace and service feed.

Each app owns one `Metrics` with its own `CollectorRegistry` (never the global default one), so
several apps in one process never collide.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from screenrec.models import Recording, RecordingState
from screenrec.server.rest import SERVICE
from screenrec.service import RecordingService

# A chunk ack is a write, an fsync and a rename: milliseconds normally, seconds on a bad disk.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Finalize is an ffmpeg remux: well under a second for short clips, minutes for long ones.
FINALIZE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
OUTCOMES = (RecordingState.READY, RecordingState.FAILED)


class Metrics:
    """The metrics of one app and the calls that feed them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._connected = self._gauge("connected_clients", "Socket.IO clients connected now")
        self._recordings = self._gauge("recordings", "Recordings in each state", ["state"])
        self._started = self._counter("recordings_started", "Starts answered, resumes included")
        self._chunks = self._counter("chunks_received", "Chunks acknowledged, retries included")
        self._bytes = self._counter("chunk_bytes_received", "Bytes of the chunks acknowledged")
        self._errors = self._counter(
            "errors", "Exception events sent, by event and error code", ["event", "code"]
        )
        self._ack_seconds = Histogram(
            "screenrec_chunk_ack_seconds",
            "Time from a chunk event reaching the handler to its acknowledgement",
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self._finalize_seconds = Histogram(
            "screenrec_finalize_seconds",
            "Time to finalize a recording, by outcome",
            ["outcome"],
            buckets=FINALIZE_BUCKETS,
            registry=self.registry,
        )
        for state in RecordingState:
            self._recordings.labels(state=state.value)
        for outcome in OUTCOMES:
            self._finalize_seconds.labels(outcome=outcome.value)

    def _gauge(self, name: str, doc: str, labels: list[str] | None = None) -> Gauge:
        return Gauge(f"screenrec_{name}", doc, labels or [], registry=self.registry)

    def _counter(self, name: str, doc: str, labels: list[str] | None = None) -> Counter:
        return Counter(f"screenrec_{name}", doc, labels or [], registry=self.registry)

    def connected(self, delta: int) -> None:
        """A Socket.IO client connected (+1) or disconnected (-1)."""
        self._connected.inc(delta)

    def answered(self, event: str, payload: dict[str, Any], seconds: float) -> None:
        """An event was answered successfully `seconds` after it reached its handler."""
        if event == "start":
            self._started.inc()
        elif event == "chunk":
            self._chunks.inc()
            self._bytes.inc(len(payload["chunk"]))
            self._ack_seconds.observe(seconds)

    def failed(self, event: str, code: str) -> None:
        """An event was answered with an `exception` carrying `code`."""
        self._errors.labels(event=event, code=code).inc()

    async def finished(self, rec: Recording, seconds: float) -> None:
        """A finalize ended (a `RecordingService.on_finished` listener)."""
        self._finalize_seconds.labels(outcome=rec.state.value).observe(seconds)

    async def render(self, service: RecordingService) -> bytes:
        """The text exposition, with the recordings-by-state gauge read from the store now."""
        counts = await service.count_by_state()
        for state in RecordingState:
            self._recordings.labels(state=state.value).set(counts.get(state, 0))
        return generate_latest(self.registry)


class _ServiceCounts(Collector):
    """What the service counts itself, read at each scrape:
    `screenrec_finalizes_total{path}` (finals from the stream index as fed, `index`; from an
    index rebuilt from storage, `scan`; by ffmpeg, `ffmpeg`), `screenrec_live_watchers` and
    `screenrec_live_bytes_sent_total`."""

    def __init__(self, service: RecordingService) -> None:
        self.service = service

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        family = CounterMetricFamily(
            "screenrec_finalizes", "Finals written, by how", labels=["path"]
        )
        for path in ("index", "scan", "ffmpeg"):
            family.add_metric([path], self.service.finalized_by[path])
        yield family
        yield GaugeMetricFamily(
            "screenrec_live_watchers", "Live views open now", value=self.service.watchers
        )
        yield CounterMetricFamily(
            "screenrec_live_bytes_sent",
            "Bytes sent to live views",
            value=self.service.live_bytes_sent,
        )


METRICS = web.AppKey("metrics", Metrics)


async def metrics_endpoint(request: web.Request) -> web.Response:
    """`GET /metrics`: Prometheus text format."""
    body = await request.app[METRICS].render(request.app[SERVICE])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def install(app: web.Application, service: RecordingService) -> Metrics:
    """Give the app its Metrics, route `/metrics`, and listen for finished recordings."""
    metrics = app[METRICS] = Metrics()
    metrics.registry.register(_ServiceCounts(service))
    app.router.add_get("/metrics", metrics_endpoint)
    service.on_finished(metrics.finished)
    return metrics
