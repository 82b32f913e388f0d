"""The Storage contract (chunk and final media bytes) and its optional capabilities: local files
(served by the kernel) and remote downloads (presigned or streamed)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable


class Storage(Protocol):
    """Media bytes under the spec's keys: `{recordId}/chunk-{index}.webm`, `{recordId}/final.webm`.

    Backend errors are raised as StorageError; nothing stored is ever overwritten in place.
    """

    name: str

    async def put_chunk(self, record_id: str, index: int, data: bytes) -> None:
        """Store a chunk durably (on return it survives a crash). Create-only: raises ChunkExists
        if that index is already stored, StorageError on any other failure."""

    async def chunk_sizes(self, record_id: str) -> dict[int, int]:
        """Index -> size of every chunk stored for the recording (empty if none)."""

    def read_chunks(self, record_id: str, indices: list[int]) -> AsyncIterator[bytes]:
        """The chunks' bytes in the given order, in blocks (constant memory).

        Raises StorageError if one is missing."""

    def scratch_dir(self) -> Path:
        """A local directory for temporary files of finalization (created on demand)."""

    async def put_final(self, record_id: str, source: Path, name: str = "final.webm") -> int:
        """Move a finished local file into place as `name` (`final.webm`, `final.mp4`,
        `poster.jpg`) durably, replacing an earlier one; return its size."""

    async def delete_chunks(self, record_id: str, indices: set[int]) -> None:
        """Remove those chunk files (missing ones are ignored)."""

    async def usage(self, record_id: str) -> int:
        """Bytes stored for the recording (chunks and final)."""

    async def delete_recording(self, record_id: str) -> int:
        """Remove everything stored for the recording; return the bytes freed."""

    async def ping(self) -> None:
        """Raise StorageError if the storage cannot be reached or written."""

    async def close(self) -> None:
        """Release clients and connections."""


@dataclass(frozen=True)
class ObjectRead:
    """A stored file opened for an HTTP download, in HTTP's terms (S3 speaks them too).

    `status` is 200 (whole file), 206 (`content_range` served), 304 (the client's ETag still
    matches) or 416 (range not satisfiable; `size` is the whole size). `body` is None for HEAD,
    304 and 416; otherwise it yields `length` bytes and must be iterated to the end or closed.
    """

    status: int
    size: int
    length: int
    etag: str | None = None
    last_modified: datetime | None = None
    content_range: str | None = None
    body: AsyncGenerator[bytes, None] | None = None


@runtime_checkable
class RemoteDownloads(Protocol):
    """Optional capability of a storage whose files are not on a local disk: it serves
    downloads itself, by a presigned URL or by streaming."""

    async def presigned_url(
        self, record_id: str, name: str, filename: str, content_type: str
    ) -> str | None:
        """A time-limited URL that serves `name` as an attachment called `filename` of type
        `content_type`, or None when this storage is not configured to hand those out.
        Raises NotFound if missing."""

    async def open_read(
        self, record_id: str, name: str, *, byte_range: str | None, if_none_match: str | None,
        head: bool = False,
    ) -> ObjectRead:  # fmt: skip
        """Open `name` for reading, honouring an HTTP `Range` and `If-None-Match` as given;
        `head` opens no body. Raises NotFound if missing, StorageError on other failures."""


@runtime_checkable
class LocalFiles(Protocol):
    """Optional capability of a storage on a local disk: its files can be served directly."""

    def local_path(self, record_id: str, name: str) -> Path | None:
        """The file holding `name`, or None if it does not exist."""
