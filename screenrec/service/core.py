"""RecordingService: ingest (numbering, ordering, resume), stop and finalize, and reading.

Transports (Socket.IO, REST, CLI) are thin adapters over this class; no rule lives twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from contextlib import suppress

from screenrec import media
from screenrec.config import Settings
from screenrec.errors import (
    Busy,
    ChunkExists,
    ChunkTooLarge,
    FinalizeFailed,
    InvalidPayload,
    NotFound,
    NotStarted,
    ScreenrecError,
    UnsupportedMedia,
)
from screenrec.media.container import needs_more, read_init, sniff
from screenrec.models import (
    ChunkState,
    Recording,
    RecordingState,
    Reservation,
    validate_record_id,
)
from screenrec.service.admin import Administration
from screenrec.service.derive import DerivedListener, Deriving
from screenrec.service.finalize import Finalizing
from screenrec.service.indexes import StreamIndexes
from screenrec.service.live import Watching
from screenrec.service.locks import KeyedLocks
from screenrec.storage import Storage, open_storage
from screenrec.store import StateStore, open_store

log = logging.getLogger("screenrec")
FinishedListener = Callable[[Recording, float], Awaitable[None]]

MAX_SEQ = 2**53 - 1
# How long `stop {chunks: n}` waits for stragglers that arrive on another connection.
STRAGGLER_WAIT = 10.0
POLL_INTERVAL = 0.05


class RecordingService(Finalizing, Deriving, Watching, Administration):
    """The one library behind every transport. Build it with `open()`, end it with `close()`."""

    def __init__(self, settings: Settings, store: StateStore, storage: Storage) -> None:
        self.settings = settings
        self.store = store
        self.storage = storage
        self._order = KeyedLocks()
        self._inflight: dict[str, dict[int, asyncio.Future[None]]] = defaultdict(dict)
        self._finalizing: dict[str, asyncio.Task[Recording]] = {}
        self._ffmpeg_slots = asyncio.Semaphore(max(2, os.cpu_count() or 2))
        self._poster_slots = asyncio.Semaphore(2)  # posters wait their turn after `ready`
        self._ffmpeg: str | None = None
        self._listeners: list[FinishedListener] = []
        self._derived_listeners: list[DerivedListener] = []
        self._derive_wakeup = asyncio.Event()
        self._background: set[asyncio.Future[None]] = set()
        self._closed = False
        self._indexes = StreamIndexes()
        self.finalized_by: Counter[str] = Counter()  # index, scan (rebuilt) or ffmpeg
        self._stored_signals: dict[str, asyncio.Event] = {}  # wakes live watchers
        self.watchers = 0
        self.live_bytes_sent = 0
        # Recordings whose first chunk was already checked here, with their container (None:
        # not known yet). Later chunks are only checked for starting another container.
        self._media_checked: dict[str, str | None] = {}

    @classmethod
    def open(cls, settings: Settings) -> RecordingService:
        """A service over the store and storage that `settings` select."""
        return cls(settings, open_store(settings), open_storage(settings))

    async def close(self) -> None:
        """Wait for in-flight work, then release the backends (once: closing again is a
        no-op, as a file's close is)."""
        if self._closed:
            return
        self._closed = True
        await self.drain()
        await self.store.close()
        await self.storage.close()

    def capabilities(self) -> list[str]:
        """Optional features this service offers, for `/healthz` and `status --server`."""
        caps = ["resume", "seq-idempotency", "ordered-acks", "stop-waits-for-chunks", "purge"]
        if self.settings.stale_after > 0:
            caps.append("stale-finalize")
        if self.settings.retention is not None:
            caps.append("retention")
        if self.settings.webhook_urls:
            caps.append("webhooks")
        with suppress(ScreenrecError):
            self.ffmpeg  # noqa: B018 - locating it is the check
            caps.append("ffmpeg")
        return caps

    @property
    def ffmpeg(self) -> str:
        """The ffmpeg binary, located on first use."""
        if self._ffmpeg is None:
            self._ffmpeg = media.find_ffmpeg(self.settings.ffmpeg)
        return self._ffmpeg

    # -- ingest ---------------------------------------------------------------------------

    async def start(self, record_id: str) -> Recording:
        """Start a recording, or resume a live one where it stopped (never reset it)."""
        validate_record_id(record_id)
        async with self._order.hold(record_id):
            rec, created = await self.store.start(record_id, time.time())
            rec = await self._repair_counter(rec)
        log.info(
            "%s %s at index %d", "started" if created else "resumed", record_id, rec.next_index,
            extra=_ctx(record_id),
        )  # fmt: skip
        return rec

    async def _recover(self, record_id: str) -> bool:
        """The store does not know the recording but storage holds its chunks (the state store
        lost data, e.g. Redis restarted empty): start it again past those chunks."""
        if not await self.storage.chunk_sizes(record_id):
            return False
        rec, _ = await self.store.start(record_id, time.time())
        await self._repair_counter(rec)
        log.warning("%s: state was lost, rebuilt from storage", record_id, extra=_ctx(record_id))
        return True

    async def _reserve(self, record_id: str, seq: int | None, size: int) -> Reservation:
        limit = self.settings.max_recording_bytes
        try:
            return await self.store.reserve_chunk(record_id, seq, size, time.time(), limit)
        except NotStarted:
            if not await self._recover(record_id):
                raise
            return await self.store.reserve_chunk(record_id, seq, size, time.time(), limit)

    async def _repair_counter(self, rec: Recording) -> Recording:
        # If the counter lost commits (a power cut, a Redis restart), storage knows better:
        # skip past its files, so an index is never handed out twice.
        stored = await self.storage.chunk_sizes(rec.record_id)
        if stored and max(stored) >= rec.next_index:
            await self.store.ensure_next_index(rec.record_id, max(stored) + 1)
            log.warning(
                "%s: counter behind storage, moved to %d", rec.record_id, max(stored) + 1,
                extra=_ctx(rec.record_id),
            )  # fmt: skip
            return await self.status(rec.record_id)
        return rec

    async def add_chunk(self, record_id: str, data: bytes, seq: int | None = None) -> int:
        """Store one chunk durably and return its index. Indices follow call order per recording;
        a repeated `seq` returns the first index and stores nothing new."""
        validate_record_id(record_id)
        if len(data) > self.settings.max_chunk_bytes:
            raise ChunkTooLarge(
                f"chunk of {len(data)} bytes is over the limit of "
                f"{self.settings.max_chunk_bytes} bytes; send smaller pieces",
                record_id=record_id,
            )
        if seq is not None and not 0 <= seq <= MAX_SEQ:
            raise InvalidPayload(f"seq must be 0..{MAX_SEQ}, got {seq}", record_id=record_id)
        async with self._order.hold(record_id):
            if data and record_id not in self._media_checked:
                await self._check_first_chunk(record_id, data)
            elif data:
                self._check_same_container(record_id, data)
            res = await self._reserve(record_id, seq, len(data))
            if not res.duplicate:
                self._indexes.feed(record_id, res.index, data)  # still in reservation order
                pending = self._inflight[record_id]
                previous = next(reversed(pending.values()), None)
                done = pending[res.index] = asyncio.get_running_loop().create_future()
        if res.duplicate:
            return await self._retry_chunk(record_id, res.index, res.state, data)
        try:
            try:
                await self.storage.put_chunk(record_id, res.index, data)
            except ChunkExists:
                # The counter handed out an index storage already has: repair it, and let the
                # client resend (nothing was acknowledged, nothing was overwritten).
                rec = await self.store.get(record_id)
                if rec is not None:
                    await self._repair_counter(rec)
                raise
            await self.store.commit_chunk(record_id, res.index, time.time())
            self._chunk_stored(record_id)
            if previous is not None:
                # Answer in index order: chunkSaved i means every chunk before i is stored too.
                await asyncio.wait([previous])
        except BaseException as exc:
            self._indexes.spoil(record_id)
            with suppress(ScreenrecError):
                await self.store.release_chunk(record_id, res.index)
            if isinstance(exc, asyncio.CancelledError):
                done.cancel()
            else:
                done.set_exception(exc)
                done.exception()  # mark retrieved: only waiters on a retry re-raise it
            raise
        else:
            done.set_result(None)
        finally:
            pending = self._inflight[record_id]
            pending.pop(res.index, None)
            if not pending:
                del self._inflight[record_id]
        return res.index

    async def _check_first_chunk(self, record_id: str, data: bytes) -> None:
        """Refuse a recording's first bytes unless they open WebM/Matroska or MP4, and note
        its container and codecs. Runs until the recording's first non-empty chunk passes,
        then never again in this process (a `get` once per recording, not per chunk)."""
        rec = await self.store.get(record_id)
        if rec is None:
            return  # not started: the reservation says so (or recovers it from storage)
        if rec.container or rec.bytes > 0:
            self._media_checked[record_id] = rec.container  # checked elsewhere, or before
            return
        info = read_init(data)
        if info is None and not needs_more(data):
            raise UnsupportedMedia(
                "the first chunk of a recording must start a WebM/Matroska (EBML) or MP4 "
                f"(ftyp) stream; got {data[:8].hex(' ')}",
                record_id=record_id,
            )
        if info is not None:
            await self.store.set_media(
                record_id, info.container, info.video_codec, info.audio_codec
            )
            self._indexes.start(record_id, info.container)
        self._media_checked[record_id] = None if info is None else info.container

    def _check_same_container(self, record_id: str, data: bytes) -> None:
        """Refuse a chunk that opens a stream of another container than the recording's (a
        client that switched recorders mid-take): appended, it could only be lost or garble
        the final. Costs a comparison of a few bytes."""
        known = self._media_checked.get(record_id)
        if known is None:
            return
        other = sniff(data[:256])  # a header names its container in its first bytes
        if other is not None and (other == "mp4") != (known == "mp4"):
            raise UnsupportedMedia(
                f"recording {record_id} is {known}; a chunk starting a new {other} stream "
                "cannot join it (start another recording for it)",
                record_id=record_id,
            )

    async def _retry_chunk(self, record_id: str, index: int, state: ChunkState, data: bytes) -> int:
        """A `seq` seen before: acknowledge it again once its bytes are stored, never twice."""
        if state == ChunkState.STORED:
            return index
        if (earlier := self._inflight.get(record_id, {}).get(index)) is not None:
            await asyncio.shield(earlier)
            return index
        # A pending row nobody here is writing (its writer crashed): finish its job.
        with suppress(ChunkExists):
            await self.storage.put_chunk(record_id, index, data)
        await self.store.commit_chunk(record_id, index, time.time())
        return index

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait (bounded) until every chunk write in flight in this process has ended."""
        futures = [f for pending in self._inflight.values() for f in pending.values()]
        if futures:
            await asyncio.wait(futures, timeout=timeout)
        tasks = [*self._finalizing.values(), *self._background]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    # -- stop and finalize ----------------------------------------------------------------

    async def stop(self, record_id: str, expected_chunks: int | None = None) -> Recording:
        """Finalize after every chunk emitted before this call is stored. `expected_chunks` (how
        many the client sent) makes it wait, bounded, for chunks still arriving elsewhere."""
        validate_record_id(record_id)
        async with self._order.hold(record_id):
            rec = await self.store.get(record_id)  # ordered after every earlier reserve
            if rec is None and await self._recover(record_id):
                rec = await self.store.get(record_id)
        if rec is None:
            raise NotStarted(f"recording {record_id} was never started", record_id=record_id)
        if expected_chunks is not None and rec.state == RecordingState.RECORDING:
            await self._await_stragglers(record_id, expected_chunks)
        return await self.finalize(record_id)

    async def _await_other_finalizer(self, record_id: str) -> Recording:
        """Another process holds the finalize lease: wait for its outcome."""
        deadline = time.monotonic() + self.settings.finalize_timeout
        while time.monotonic() < deadline:
            rec = await self.status(record_id)
            if rec.state == RecordingState.READY:
                return rec
            if rec.state == RecordingState.FAILED:
                raise FinalizeFailed(rec.error or "finalize failed", record_id=record_id)
            await asyncio.sleep(POLL_INTERVAL * 4)
        raise Busy(f"recording {record_id} is still being finalized elsewhere", record_id=record_id)

    async def _await_stragglers(self, record_id: str, expected: int) -> None:
        deadline = time.monotonic() + STRAGGLER_WAIT
        while time.monotonic() < deadline:
            rows = await self.store.chunks(record_id)
            if sum(1 for c in rows if c.state != ChunkState.ABANDONED) >= expected:
                return
            await asyncio.sleep(POLL_INTERVAL)

    async def finalize(self, record_id: str) -> Recording:
        """Produce `final.webm` once: concurrent callers in this process share one run, and
        while another process holds the lease this waits for its outcome. A ready recording
        is returned as it is; a failed one is tried again."""
        validate_record_id(record_id)
        task = self._finalizing.get(record_id)
        if task is None:
            task = asyncio.create_task(self._finalize(record_id), name=f"finalize {record_id}")
            self._finalizing[record_id] = task
            task.add_done_callback(lambda _: self._finalizing.pop(record_id, None))
        try:
            return await asyncio.shield(task)
        except Busy:
            return await self._await_other_finalizer(record_id)

    async def _finalize(self, record_id: str) -> Recording:
        started = time.monotonic()
        self._media_checked.pop(record_id, None)  # no chunk is taken after this
        self._chunk_stored(record_id)  # live watchers: it is ending
        lease = self.settings.finalize_timeout + 60
        rec, acquired = await self.store.begin_finalize(record_id, lease, time.time())
        if not acquired:
            return rec
        try:
            rec = await self._produce_final(record_id)
        except ScreenrecError as exc:
            log.error("finalize %s failed: %s", record_id, exc.message, extra=_ctx(record_id))
            failed = await self.store.finish(
                record_id, RecordingState.FAILED, time.time(), error=exc.message
            )
            self._announce(failed, time.monotonic() - started)
            raise FinalizeFailed(exc.message, record_id=record_id) from exc
        log.info(
            "finalized %s: %d chunks, %d bytes, %s ms of media in %.0f ms",
            record_id, rec.chunks, rec.final_bytes or 0, rec.duration_ms,
            (time.monotonic() - started) * 1000, extra=_ctx(record_id),
        )  # fmt: skip
        self._announce(rec, time.monotonic() - started)
        return rec

    def on_finished(self, listener: FinishedListener) -> None:
        """Call `listener(recording, seconds)` whenever a finalize ends in ready or failed.
        Listeners run as background tasks: a slow or failing one never delays finalization."""
        self._listeners.append(listener)

    def _announce(self, rec: Recording, seconds: float) -> None:
        for listener in self._listeners:
            self._in_background(listener(rec, seconds))

    def _in_background(self, work: Awaitable[None]) -> None:
        """Run work after the caller's answer; `drain()` and `close()` wait for it."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Future[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("background work failed: %r", exc)

    # -- reading --------------------------------------------------------------------------

    async def status(self, record_id: str) -> Recording:
        """The recording, or NotFound."""
        validate_record_id(record_id)
        rec = await self.store.get(record_id)
        if rec is None:
            raise NotFound(f"no recording {record_id}", record_id=record_id)
        return rec

    async def list(
        self,
        *,
        limit: int = 100,
        before: tuple[float, str] | None = None,
        states: tuple[RecordingState, ...] = (),
        older_than: float | None = None,
        idle_for: float | None = None,
    ) -> list[Recording]:
        """Recordings newest first; `older_than` (created) and `idle_for` (no activity) are
        durations in seconds."""
        now = time.time()
        return await self.store.list(
            limit=limit,
            before=before,
            states=states,
            created_before=None if older_than is None else now - older_than,
            updated_before=None if idle_for is None else now - idle_for,
        )


def _ctx(record_id: str) -> dict[str, str]:
    """Log-record extras, so JSON logs carry the recording id as a field."""
    return {"recordId": record_id}
