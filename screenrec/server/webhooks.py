"""Webhooks: a signed JSON POST to each configured URL when a recording is ready or failed."""

from __future__ import annotations

from aiohttp import web

from screenrec.config import Settings
from screenrec.service import RecordingService


def install(app: web.Application, settings: Settings, service: RecordingService) -> None:
    """Subscribe a sender to the service's finished events (to be implemented)."""
