"""Pure data: recordings, chunks, ids and object keys. No I/O here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from screenrec.errors import InvalidKey, InvalidRecordId

RECORD_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
_CHUNK_NAME_RE = re.compile(r"chunk-(0|[1-9][0-9]{0,17})\.webm")
FINAL_NAME = "final.webm"  # the spec's final; MP4/H.264 recordings end as FINAL_MP4
FINAL_MP4 = "final.mp4"
POSTER_NAME = "poster.jpg"
# The files a recording can be asked for by name, and the type each is served as.
CONTENT_TYPES = {FINAL_NAME: "video/webm", FINAL_MP4: "video/mp4", POSTER_NAME: "image/jpeg"}


class RecordingState(StrEnum):
    """Where a recording is in its life: recording -> processing -> ready | failed."""

    RECORDING = "recording"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class ChunkState(StrEnum):
    """A chunk row: reserved (index taken, bytes in flight), stored, or abandoned at seal time."""

    PENDING = "pending"
    STORED = "stored"
    ABANDONED = "abandoned"


DERIVATIVES = ("mp4",)  # copies that can be made of a ready recording, by kind


class DerivativeState(StrEnum):
    """A derivative's job: waiting or running (pending), done (ready), given up (failed)."""

    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Derivative:
    """A copy made of a ready recording in the background (kind `mp4`: an H.264 + AAC
    `final.mp4` of a WebM final)."""

    kind: str
    status: DerivativeState
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Recording:
    """What the state store knows about one recording."""

    record_id: str
    state: RecordingState
    next_index: int
    chunks: int
    bytes: int
    created_at: float
    updated_at: float
    duration_ms: int | None = None
    final_bytes: int | None = None
    error: str | None = None
    warnings: tuple[str, ...] = field(default=())
    container: str | None = None  # of the chunks: webm, matroska or mp4 (first chunk's bytes)
    video_codec: str | None = None
    audio_codec: str | None = None
    final_name: str | None = None  # final.webm or final.mp4, once ready
    poster: bool = False  # poster.jpg stored beside the final
    derivatives: tuple[Derivative, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk row: its arrival index, the client's optional seq, its size and state."""

    index: int
    seq: int | None
    size: int
    state: ChunkState
    created_at: float


@dataclass(frozen=True, slots=True)
class Reservation:
    """The answer to reserving a chunk: its index, and whether this seq was seen before."""

    index: int
    duplicate: bool
    state: ChunkState


def validate_record_id(value: object) -> str:
    """Return `value` if it is a legal recordId, else raise InvalidRecordId."""
    if not isinstance(value, str) or not RECORD_ID_RE.fullmatch(value):
        shown = value[:40] + "..." if isinstance(value, str) and len(value) > 40 else value
        raise InvalidRecordId(
            f"recordId must be 1-128 characters of A-Z a-z 0-9 _ -, got {shown!r}"
        )
    return value


def chunk_name(index: int) -> str:
    """The spec's file name for chunk `index` (not zero-padded)."""
    return f"chunk-{index}.webm"


def download_key(record_id: str, name: str = FINAL_NAME) -> str:
    """The storage key of one of a recording's files (by default the spec's final)."""
    return f"{record_id}/{name}"


def content_type(name: str) -> str:
    """The media type a stored file is served as (chunks are stream pieces: WebM or MP4
    bytes alike, served as the spec's video/webm)."""
    return CONTENT_TYPES.get(name, "video/webm")


def parse_key(key: str) -> tuple[str, str]:
    """Split a decoded download key into (recordId, file name), refusing every other shape."""
    record_id, sep, name = key.partition("/")
    if (
        not sep
        or not RECORD_ID_RE.fullmatch(record_id)
        or not (name in CONTENT_TYPES or _CHUNK_NAME_RE.fullmatch(name))
    ):
        raise InvalidKey(
            "key must be {recordId}/ followed by final.webm, final.mp4, poster.jpg or "
            "chunk-{index}.webm"
        )
    return record_id, name


def ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    parts: list[tuple[int, int]] = []
    for n in sorted(numbers):
        if parts and n == parts[-1][1] + 1:
            parts[-1] = (parts[-1][0], n)
        else:
            parts.append((n, n))
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in parts)
