"""The wire view of a recording: the status document every transport shows (REST, the
`finished` event, webhooks, the CLI's `--json`), with its links signed when tokens are on."""

from __future__ import annotations

from datetime import UTC, datetime

from screenrec.links import Links
from screenrec.models import Recording, RecordingState, download_key


def iso(ts: float | None) -> str | None:
    """Unix seconds as an ISO 8601 UTC string with milliseconds."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def status_document(rec: Recording, links: Links | None = None) -> dict[str, object]:
    """A recording as on the wire (camelCase); with `links`, the download URL is signed when
    access control is on."""
    doc: dict[str, object] = {
        "recordId": rec.record_id,
        "status": str(rec.state),
        "chunks": rec.chunks,
        "bytes": rec.bytes,
        "nextIndex": rec.next_index,
        "createdAt": iso(rec.created_at),
        "updatedAt": iso(rec.updated_at),
    }
    if rec.state == RecordingState.READY:
        doc["downloadUrl"] = (links or Links()).download(download_key(rec.record_id))
        doc["finalBytes"] = rec.final_bytes
    if rec.duration_ms is not None:
        doc["durationMs"] = rec.duration_ms
    if rec.error:
        doc["error"] = rec.error
    if rec.warnings:
        doc["warnings"] = list(rec.warnings)
    return doc
