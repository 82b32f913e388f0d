"""The wire view of a recording: the status document every transport shows (REST, the
`finished` event, webhooks, the CLI's `--json`), with its links signed when tokens are on."""

from __future__ import annotations

from datetime import UTC, datetime

from screenrec.links import Links
from screenrec.models import (
    FINAL_MP4,
    FINAL_NAME,
    POSTER_NAME,
    Derivative,
    DerivativeState,
    Recording,
    RecordingState,
    download_key,
)


def _format_of(container: str | None) -> str | None:
    """The final's container while it is still being recorded: MP4 chunks end as MP4; WebM
    chunks as WebM unless their codecs need MP4 (known only at finalize)."""
    return {"mp4": "mp4", "webm": "webm"}.get(container or "")


def iso(ts: float | None) -> str | None:
    """Unix seconds as an ISO 8601 UTC string with milliseconds."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _derivative(rec: Recording, found: Derivative, links: Links | None) -> dict[str, str]:
    """`{status, url?, error?}` of one derivative (the url once it is ready)."""
    doc = {"status": str(found.status)}
    if found.status == DerivativeState.READY:
        doc["url"] = (links or Links()).download(download_key(rec.record_id, FINAL_MP4))
    if found.error:
        doc["error"] = found.error
    return doc


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
    final = rec.final_name or FINAL_NAME  # finals made before MP4 support are all WebM
    ready = rec.state == RecordingState.READY
    format_ = final.rsplit(".", 1)[-1] if ready else _format_of(rec.container)
    if format_:
        doc["format"] = format_
    if rec.video_codec:
        doc["videoCodec"] = rec.video_codec
    if rec.audio_codec:
        doc["audioCodec"] = rec.audio_codec
    if rec.state == RecordingState.RECORDING and rec.container in ("webm", "matroska"):
        doc["liveUrl"] = (links or Links()).live(rec.record_id)
    if ready:
        links = links or Links()
        doc["downloadUrl"] = links.download(download_key(rec.record_id, final))
        doc["finalBytes"] = rec.final_bytes
        if rec.poster:
            doc["posterUrl"] = links.download(download_key(rec.record_id, POSTER_NAME))
    if rec.derivatives:
        doc["derivatives"] = {d.kind: _derivative(rec, d, links) for d in rec.derivatives}
    if rec.duration_ms is not None:
        doc["durationMs"] = rec.duration_ms
    if rec.error:
        doc["error"] = rec.error
    if rec.warnings:
        doc["warnings"] = list(rec.warnings)
    return doc
