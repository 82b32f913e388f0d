"""The live view of a recording in progress: its init segment, then its stream from the
latest keyframe cluster, then every chunk as it is stored, until the recording ends. Each
watcher reads storage on its own, so a slow one holds nothing in memory and slows nobody.
Mixed into RecordingService."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import TYPE_CHECKING

from screenrec.errors import AlreadyFinished, UnsupportedMedia
from screenrec.media.webm_assemble import scan_index
from screenrec.media.webm_index import WebmIndex
from screenrec.models import ChunkState, RecordingState, chunk_name
from screenrec.service.indexes import EBML_CONTAINERS
from screenrec.storage import LocalFiles

if TYPE_CHECKING:
    from screenrec.service.core import RecordingService

log = logging.getLogger("screenrec")
POLL_SECONDS = 0.25  # for chunks stored by other processes; this one's wake watchers at once
MAX_LAG_CHUNKS = 30  # a watcher this far behind the newest chunk is let go (it reconnects)


class Watching:
    """`watch()`: the bytes of a live view. Mixed into RecordingService."""

    async def watch(self: RecordingService, record_id: str) -> AsyncIterator[bytes]:
        """The live stream of a WebM recording still `recording`. Raises NotFound,
        AlreadyFinished (it ended: its final is at its downloadUrl) or UnsupportedMedia
        (not WebM, or too little recorded yet to start from a keyframe)."""
        rec = await self.status(record_id)
        if rec.state != RecordingState.RECORDING:
            raise AlreadyFinished(
                f"recording {record_id} is {rec.state}; watch its final instead",
                record_id=record_id,
            )
        if rec.container not in EBML_CONTAINERS:
            raise UnsupportedMedia(
                f"the live view plays WebM; {record_id} is {rec.container or 'not known yet'}",
                record_id=record_id,
            )
        stored = await self._stored_run(record_id, 0)
        index = await self._live_index(record_id, stored)
        total = sum(size for _, size in stored)
        clusters = index.clusters if index is not None else ()
        keyframes = [c.offset for c in clusters if c.keyframe and c.offset < total]
        if index is None or not keyframes:
            raise UnsupportedMedia(
                f"recording {record_id} has no keyframe stored yet; try again in a moment",
                record_id=record_id,
            )
        self.watchers += 1
        try:
            async for block in self._stream(record_id, stored, index.init_end, keyframes[-1]):
                self.live_bytes_sent += len(block)
                yield block
        finally:
            self.watchers -= 1

    async def _stored_run(
        self: RecordingService, record_id: str, first: int
    ) -> list[tuple[int, int]]:
        """(index, size) of the stored chunks from `first` on, up to the first gap (a chunk
        still being written, or lost)."""
        rows = await self.store.chunks(record_id)
        stored = {c.index: c.size for c in rows if c.state == ChunkState.STORED}
        run = []
        while first in stored:
            run.append((first, stored[first]))
            first += 1
        return run

    async def _live_index(
        self: RecordingService, record_id: str, stored: list[tuple[int, int]]
    ) -> WebmIndex | None:
        index = self._indexes.current(record_id)
        if index is not None or not isinstance(self.storage, LocalFiles):
            return index
        paths = [self.storage.local_path(record_id, chunk_name(i)) for i, _ in stored]
        if any(p is None for p in paths):
            return None
        return await asyncio.to_thread(scan_index, [p for p in paths if p is not None])

    async def _stream(
        self: RecordingService,
        record_id: str,
        stored: list[tuple[int, int]],
        init_end: int,
        start: int,
    ) -> AsyncIterator[bytes]:
        """`stream[:init_end]`, then `stream[start:]` of the stored chunks, then new chunks as
        they are stored. Reads only the chunks that hold those bytes."""
        wanted, offsets, offset = [], {}, 0
        for index, size in stored:
            if offset < init_end or offset + size > start:
                wanted.append(index)
                offsets[index] = offset
            offset += size
        position = iter(wanted)
        async for block in self.storage.read_chunks(record_id, wanted):
            begin = offsets[next(position)]
            end = begin + len(block)
            if begin < init_end:
                yield block[: min(end, init_end) - begin]
            if end > start:
                yield block[max(start, begin) - begin :]
        async for block in self._follow(record_id, stored[-1][0] + 1):
            yield block

    async def _follow(
        self: RecordingService, record_id: str, following: int
    ) -> AsyncIterator[bytes]:
        """Every chunk from `following` on, in order, as it is stored; ends with the
        recording (or when this watcher falls too far behind: it reconnects at the edge)."""
        while True:
            run = await self._stored_run(record_id, following)
            if run:
                newest = run[-1][0]
                if newest - following > MAX_LAG_CHUNKS:
                    log.info("%s: a live watcher fell behind; letting it go", record_id,
                             extra={"recordId": record_id})  # fmt: skip
                    return
                async for block in self.storage.read_chunks(record_id, [i for i, _ in run]):
                    yield block
                following = newest + 1
                continue
            if (await self.status(record_id)).state != RecordingState.RECORDING:
                return
            signal = self._stored_signals.setdefault(record_id, asyncio.Event())
            with suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), POLL_SECONDS)
            if self._stored_signals.get(record_id) is signal and signal.is_set():
                del self._stored_signals[record_id]

    def _chunk_stored(self: RecordingService, record_id: str) -> None:
        """Wake this process's watchers of the recording (a chunk was stored, or it ended)."""
        if (signal := self._stored_signals.get(record_id)) is not None:
            signal.set()
