"""The Storage interface (chunk and final media bytes) and its registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from screenrec.config import Settings
from screenrec.errors import ConfigError


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

    async def put_final(self, record_id: str, source: Path) -> int:
        """Move a finished local file into place as `final.webm` durably; return its size."""

    async def delete_chunks(self, record_id: str, indices: set[int]) -> None:
        """Remove those chunk files (missing ones are ignored)."""

    async def usage(self, record_id: str) -> int:
        """Bytes stored for the recording (chunks and final)."""

    async def delete_recording(self, record_id: str) -> int:
        """Remove everything stored for the recording; return the bytes freed."""

    def local_path(self, record_id: str, name: str) -> Path | None:
        """The file to serve for `name` if this backend is a local disk and the file exists."""

    async def close(self) -> None:
        """Release clients and connections."""


def open_storage(settings: Settings) -> Storage:
    """The storage the settings select: a local directory unless an `s3://` URL is given."""
    if settings.storage and settings.storage.startswith("s3://"):
        raise ConfigError(
            "S3 storage is not available in this version of screenrec; set --storage / "
            "SCREENREC_STORAGE to a directory"
        )
    from screenrec.storage.local_storage import LocalStorage

    return LocalStorage(settings.storage_dir)
