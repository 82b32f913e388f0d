"""Every error screenrec reports, each with a stable wire `code` and an HTTP status.

    ScreenrecError                      (internal_error, 500)
    ├── InvalidPayload                  (invalid_payload, 400)
    ├── InvalidRecordId                 (invalid_record_id, 400)
    ├── InvalidKey                      (invalid_key, 400)
    ├── BadRequest                      (bad_request, 4xx: the status HTTP gave it)
    ├── MethodNotAllowed                (method_not_allowed, 405)
    ├── ChunkTooLarge                   (chunk_too_large, 413)
    ├── UnsupportedMedia                (unsupported_media, 415)
    ├── Unauthorized                    (unauthorized, 401)
    ├── NotFound                        (not_found, 404)
    │   └── NotStarted                  (not_started, 404)
    ├── AlreadyFinished                 (already_finished, 409)
    ├── Busy                            (busy, 409)
    │   └── LiveRecording               (busy, 409)
    ├── LimitExceeded                   (limit_exceeded, 429)
    ├── StorageError                    (storage_error, 503)
    │   └── ChunkExists                 (storage_error, 503)
    ├── FinalizeFailed                  (finalize_failed, 500)
    └── ConfigError                     (config_error, 500)

Transports convert these in exactly one place each: the Socket.IO wrapper (`exception` event +
error ack), the HTTP middleware (JSON body + status) and the CLI (stderr + exit code).
"""

from __future__ import annotations


class ScreenrecError(Exception):
    """Base of every error screenrec reports to a client or an operator."""

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str, *, record_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.record_id = record_id

    def to_dict(self) -> dict[str, str]:
        """The `{code, message}` pair sent in acknowledgements and HTTP bodies."""
        return {"code": self.code, "message": self.message}


class InvalidPayload(ScreenrecError):
    """The event payload has the wrong shape or types."""

    code = "invalid_payload"
    http_status = 400


class InvalidRecordId(ScreenrecError):
    """A recordId outside `[A-Za-z0-9_-]{1,128}`."""

    code = "invalid_record_id"
    http_status = 400


class InvalidKey(ScreenrecError):
    """A download key that is not `{recordId}/final.webm` or `{recordId}/chunk-{n}.webm`."""

    code = "invalid_key"
    http_status = 400


class BadRequest(ScreenrecError):
    """An HTTP request the server could not take as sent (malformed, too large, ...); keeps
    the HTTP status the web server chose for it."""

    code = "bad_request"
    http_status = 400

    def __init__(self, message: str, *, http_status: int = 400) -> None:
        super().__init__(message)
        self.http_status = http_status


class MethodNotAllowed(ScreenrecError):
    """An HTTP method the route does not answer (the `Allow` header lists those it does)."""

    code = "method_not_allowed"
    http_status = 405


class ChunkTooLarge(ScreenrecError):
    """A chunk over the configured `max_chunk_bytes`."""

    code = "chunk_too_large"
    http_status = 413


class UnsupportedMedia(ScreenrecError):
    """A recording's first chunk is neither WebM/Matroska (EBML) nor MP4 (`ftyp`)."""

    code = "unsupported_media"
    http_status = 415


class Unauthorized(ScreenrecError):
    """Missing or wrong credentials."""

    code = "unauthorized"
    http_status = 401


class NotFound(ScreenrecError):
    """No recording (or file) with that id."""

    code = "not_found"
    http_status = 404


class NotStarted(NotFound):
    """A `chunk` or `stop` for a recording that was never started."""

    code = "not_started"


class AlreadyFinished(ScreenrecError):
    """An event that needs a live recording, for one that is processing, ready or failed."""

    code = "already_finished"
    http_status = 409


class Busy(ScreenrecError):
    """Someone else (another process or instance) is finalizing this recording right now."""

    code = "busy"
    http_status = 409


class LiveRecording(Busy):
    """A purge of a recording that is still recording or being finalized, without force."""


class LimitExceeded(ScreenrecError):
    """A configured limit was reached: recordings per connection, bytes per recording."""

    code = "limit_exceeded"
    http_status = 429


class StorageError(ScreenrecError):
    """The state store or the media storage failed; nothing was acknowledged."""

    code = "storage_error"
    http_status = 503


class ChunkExists(StorageError):
    """A chunk file with that index is already stored; storage never overwrites one."""


class FinalizeFailed(ScreenrecError):
    """FFmpeg (or the chunks it was given) could not produce a final file."""

    code = "finalize_failed"
    http_status = 500


class ConfigError(ScreenrecError):
    """A setting is invalid or names a backend that is not available."""

    code = "config_error"
    http_status = 500
