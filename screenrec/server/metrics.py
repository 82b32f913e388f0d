"""Prometheus metrics: `GET /metrics` and the counters the namespace and service feed."""

from __future__ import annotations

from aiohttp import web

from screenrec.service import RecordingService


def install(app: web.Application, service: RecordingService) -> None:
    """Register `/metrics` and hook the counters into the service (to be implemented)."""
