"""LocalStorage: chunk and final files in a directory, written durably and never overwritten.

A chunk is written to a unique temp name, fsynced, then hard-linked to its final name (link
fails if the name exists, so a stored chunk can never be replaced) and the directory fsynced.

Where that whole sequence is fast (tmpfs, or a disk whose fsync returns in microseconds), it
runs on the event loop: handing it to a thread and back costs more than the write itself. The
`WritePacer` times those writes and sends them to threads as soon as one takes a millisecond,
so a slow or stalling disk holds up the loop for one write, then for rare probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from screenrec.errors import ChunkExists, StorageError
from screenrec.models import FINAL_NAME, chunk_name

_CHUNK_FILE_RE = re.compile(r"chunk-(0|[1-9][0-9]*)\.webm")
_READ_BATCH_BYTES = 4 * 1024 * 1024  # read per thread hop while finalizing


class WritePacer:
    """Decides where the next chunk write runs. Inline (on the event loop) while inline writes
    take under `budget` seconds each; after a slow one, on threads, with one inline write as a
    probe after `probe_every` writes, an interval that doubles (up to `max_probe_every`) each
    time the probe is slow too. Only inline writes are timed: on a thread, the time a write
    waits for the GIL would count against the disk. Chunks over `max_inline` bytes always go
    to a thread."""

    def __init__(
        self,
        budget: float = 0.001,
        max_inline: int = 1024 * 1024,
        probe_every: int = 32,
        max_probe_every: int = 4096,
    ) -> None:
        self.budget, self.max_inline = budget, max_inline
        self._first_probe, self._max_probe = probe_every, max_probe_every
        self.inline_now = True
        self._probe_every = probe_every
        self._until_probe = 0

    def inline(self, size: int) -> bool:
        """Whether to write the next chunk of `size` bytes on the event loop."""
        if size > self.max_inline:
            return False
        if self.inline_now:
            return True
        self._until_probe -= 1
        return self._until_probe <= 0

    def record(self, seconds: float) -> None:
        """How long an inline write took."""
        if seconds < self.budget:
            self.inline_now, self._probe_every = True, self._first_probe
            return
        if not self.inline_now:  # a probe, and still slow: probe less often
            self._probe_every = min(self._probe_every * 2, self._max_probe)
        self.inline_now, self._until_probe = False, self._probe_every


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _storage_error(what: str, exc: OSError) -> StorageError:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = "no space left on the storage device"
    return StorageError(f"could not {what}: {reason}")


class LocalStorage:
    """Storage on a local (or mounted) filesystem, rooted at one directory."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root
        self._known_dirs: set[str] = set()
        self.pacer = WritePacer()

    def _dir(self, record_id: str) -> Path:
        return self.root / record_id

    def _ensure_dir(self, record_id: str) -> Path:
        path = self._dir(record_id)
        if record_id not in self._known_dirs:
            if not path.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                _fsync_dir(path.parent)
            self._known_dirs.add(record_id)
        return path

    def _write_chunk(self, record_id: str, index: int, data: bytes) -> None:
        directory = self._ensure_dir(record_id)
        target = directory / chunk_name(index)
        temp = directory / f".{chunk_name(index)}.{uuid.uuid4().hex}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            os.unlink(temp)  # a full disk must not also keep the partial bytes
            raise
        finally:
            os.close(fd)
        try:
            os.link(temp, target)
        except FileExistsError:
            raise ChunkExists(
                f"chunk {index} of {record_id} is already stored", record_id=record_id
            ) from None
        finally:
            os.unlink(temp)
        _fsync_dir(directory)

    async def put_chunk(self, record_id: str, index: int, data: bytes) -> None:
        try:
            if self.pacer.inline(len(data)):
                began = time.perf_counter()
                try:
                    self._write_chunk(record_id, index, data)
                finally:
                    self.pacer.record(time.perf_counter() - began)
            else:
                await asyncio.to_thread(self._write_chunk, record_id, index, data)
        except OSError as exc:
            self._known_dirs.discard(record_id)
            raise _storage_error(f"store chunk {index} of {record_id}", exc) from exc

    async def chunk_sizes(self, record_id: str) -> dict[int, int]:
        def scan() -> dict[int, int]:
            try:
                entries = list(os.scandir(self._dir(record_id)))
            except FileNotFoundError:
                return {}
            return {
                int(m.group(1)): entry.stat().st_size
                for entry in entries
                if (m := _CHUNK_FILE_RE.fullmatch(entry.name))
            }

        try:
            return await asyncio.to_thread(scan)
        except OSError as exc:
            raise _storage_error(f"list chunks of {record_id}", exc) from exc

    async def read_chunks(self, record_id: str, indices: list[int]) -> AsyncIterator[bytes]:
        directory = self._dir(record_id)

        def read_batch(start: int) -> list[bytes]:
            # Whole files, several per thread hop, about _READ_BATCH_BYTES at a time (one file
            # can be larger: a chunk is bounded by max_chunk_bytes).
            out: list[bytes] = []
            size = 0
            for index in indices[start:]:
                with open(directory / chunk_name(index), "rb") as handle:
                    out.append(handle.read())
                size += len(out[-1])
                if size >= _READ_BATCH_BYTES:
                    break
            return out

        position = 0
        while position < len(indices):
            try:
                blocks = await asyncio.to_thread(read_batch, position)
            except OSError as exc:
                raise _storage_error(f"read chunks of {record_id}", exc) from exc
            position += len(blocks)
            for block in blocks:
                yield block

    def scratch_dir(self) -> Path:
        path = self.root / ".scratch"
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def put_final(self, record_id: str, source: Path, name: str = FINAL_NAME) -> int:
        def move() -> int:
            directory = self._ensure_dir(record_id)
            with open(source, "rb+") as handle:
                os.fsync(handle.fileno())
                size = os.fstat(handle.fileno()).st_size
            os.replace(source, directory / name)
            _fsync_dir(directory)
            return size

        try:
            return await asyncio.to_thread(move)
        except OSError as exc:
            raise _storage_error(f"store {name} of {record_id}", exc) from exc

    async def delete_chunks(self, record_id: str, indices: set[int]) -> None:
        def remove() -> None:
            directory = self._dir(record_id)
            for index in indices:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(directory / chunk_name(index))

        try:
            await asyncio.to_thread(remove)
        except OSError as exc:
            raise _storage_error(f"delete chunks of {record_id}", exc) from exc

    def _usage(self, record_id: str) -> int:
        try:
            entries = list(os.scandir(self._dir(record_id)))
        except FileNotFoundError:
            return 0
        return sum(e.stat().st_size for e in entries if e.is_file())

    async def usage(self, record_id: str) -> int:
        try:
            return await asyncio.to_thread(self._usage, record_id)
        except OSError as exc:
            raise _storage_error(f"measure {record_id}", exc) from exc

    async def delete_recording(self, record_id: str) -> int:
        def remove() -> int:
            freed = self._usage(record_id)
            shutil.rmtree(self._dir(record_id), ignore_errors=False)
            return freed

        self._known_dirs.discard(record_id)
        try:
            return await asyncio.to_thread(remove)
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise _storage_error(f"delete {record_id}", exc) from exc

    def local_path(self, record_id: str, name: str) -> Path | None:
        path = self._dir(record_id) / name
        return path if path.is_file() else None

    async def ping(self) -> None:
        def check() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, "not writable", str(self.root))

        try:
            await asyncio.to_thread(check)
        except OSError as exc:
            raise _storage_error(f"use {self.root}", exc) from exc

    async def close(self) -> None:
        return None
