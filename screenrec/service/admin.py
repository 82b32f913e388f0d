"""What operators and readers do with recordings: inspect, purge (one selection for CLI and
REST), housekeeping, health, metrics counts and downloads. Mixed into RecordingService."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from screenrec import media
from screenrec.errors import LiveRecording, NotFound, ScreenrecError
from screenrec.models import (
    CONTENT_TYPES,
    ChunkState,
    Recording,
    RecordingState,
    content_type,
    parse_key,
)
from screenrec.service.final import plan_final
from screenrec.storage import LocalFiles, ObjectRead, RemoteDownloads

if TYPE_CHECKING:
    from screenrec.service.core import RecordingService

log = logging.getLogger("screenrec")
LIVE = (RecordingState.RECORDING, RecordingState.PROCESSING)


@dataclass(frozen=True)
class Inspection:
    """The answer of `RecordingService.inspect`."""

    recording: Recording
    chunk_indices: list[int]
    problems: list[str]
    media: media.MediaInfo | None


@dataclass(frozen=True)
class Health:
    """Whether the store and storage take requests now; `problems` holds what failed."""

    store: str
    storage: str
    problems: list[ScreenrecError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.problems


@dataclass(frozen=True)
class PurgePlan:
    """What a purge selection deletes (`(recording, bytes)`) and what it leaves and why."""

    chosen: list[tuple[Recording, int]]
    skipped: list[tuple[str, str]]  # (recordId, reason)

    @property
    def bytes(self) -> int:
        """The bytes the chosen recordings hold."""
        return sum(size for _, size in self.chosen)


@dataclass(frozen=True)
class Download:
    """A file to send, as the storage serves it: a local `path`, a `redirect` URL, or a
    `read` opened for streaming (exactly one is set)."""

    record_id: str
    name: str
    filename: str
    content_type: str
    path: Path | None = None
    redirect: str | None = None
    read: ObjectRead | None = None


class Administration:
    """The operations beside ingest and finalize. Mixed into RecordingService."""

    async def stale(self: RecordingService, idle_for: float, limit: int = 1000) -> list[Recording]:
        """Recordings still `recording` with no activity for `idle_for` seconds: their client
        is gone without `stop`."""
        return await self.list(limit=limit, states=(RecordingState.RECORDING,), idle_for=idle_for)

    @property
    def housekeeping_interval(self: RecordingService) -> float | None:
        """Seconds between housekeeping passes, or None when there is nothing to keep."""
        settings = self.settings
        if settings.stale_after <= 0 and settings.retention is None:
            return None
        if settings.stale_after > 0:
            return min(60.0, max(0.5, settings.stale_after / 4))
        return 60.0

    async def housekeep_forever(self: RecordingService) -> None:
        """Run `maintain()` every `housekeeping_interval`; one bad pass never stops it."""
        interval = self.housekeeping_interval
        if interval is None:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                await self.maintain()
            except Exception:
                log.exception("housekeeping pass failed; trying again in %.0f s", interval)

    async def maintain(self: RecordingService) -> tuple[list[str], list[str]]:
        """One housekeeping pass: finalize recordings idle for `stale_after`, purge finished
        ones older than `retention`. Returns (finalized ids, purged ids); logs, never raises
        for a single recording."""
        finalized: list[str] = []
        purged: list[str] = []
        if self.settings.stale_after > 0:
            for rec in await self.stale(self.settings.stale_after):
                with suppress(ScreenrecError):  # failures are logged and kept in the status
                    await self.finalize(rec.record_id)
                    finalized.append(rec.record_id)
        if self.settings.retention is not None:
            done = (RecordingState.READY, RecordingState.FAILED)
            for rec in await self.list(limit=1000, states=done, idle_for=self.settings.retention):
                try:
                    await self.purge(rec.record_id)
                    purged.append(rec.record_id)
                except ScreenrecError as exc:
                    log.warning("retention: could not purge %s: %s", rec.record_id, exc.message)
        if finalized or purged:
            log.info("housekeeping: finalized %s; purged %s", finalized or "none", purged or "none")
        return finalized, purged

    async def inspect(self: RecordingService, record_id: str) -> Inspection:
        """Everything known about one recording: its row, its chunks on disk and in the store,
        the gaps among them, and what ffmpeg says about the final."""
        rec = await self.status(record_id)
        rows = await self.store.chunks(record_id)
        present = await self.storage.chunk_sizes(record_id)
        stored = [c for c in rows if c.state == ChunkState.STORED]
        _, warnings = plan_final(stored, present) if stored else ([], [])
        info = None
        if rec.state == RecordingState.READY and isinstance(self.storage, LocalFiles):
            final = self.storage.local_path(record_id, "final.webm")
            if final is not None:
                with suppress(ScreenrecError):
                    info = await media.probe(self.ffmpeg, final)
        return Inspection(
            rec, sorted(present), warnings if rec.state != RecordingState.READY else [], info
        )

    async def purge_plan(
        self: RecordingService,
        record_ids: list[str] | None = None,
        *,
        states: tuple[RecordingState, ...] = (),
        older_than: float | None = None,
        force: bool = False,
    ) -> PurgePlan:
        """What `purge` would delete: the given ids, or every recording matching `states` and
        `older_than`. Unknown ids and (without `force`) live recordings are skipped, with why."""
        skipped: list[tuple[str, str]] = []
        if record_ids:
            candidates = []
            for record_id in dict.fromkeys(record_ids):
                try:
                    candidates.append(await self.status(record_id))
                except NotFound:
                    skipped.append((record_id, "not found"))
        else:
            candidates = await self.list(limit=100_000, states=states, older_than=older_than)
        chosen = []
        for rec in candidates:
            if rec.state in LIVE and not force:
                skipped.append((rec.record_id, f"still {rec.state}"))
            else:
                chosen.append((rec, await self.storage.usage(rec.record_id)))
        return PurgePlan(chosen, skipped)

    async def purge(self: RecordingService, record_id: str, *, force: bool = False) -> int:
        """Delete a recording's files and state; return the bytes freed. A recording still
        receiving chunks, or being finalized, needs `force` (else LiveRecording)."""
        rec = await self.status(record_id)
        if rec.state in LIVE and not force:
            raise LiveRecording(
                f"recording {record_id} is still {rec.state}; force the purge to delete it",
                record_id=record_id,
            )
        freed = await self.storage.delete_recording(record_id)
        await self.store.delete(record_id)
        self._indexes.drop(record_id)
        log.info("purged %s (%d bytes)", record_id, freed, extra={"recordId": record_id})
        return freed

    async def health(self: RecordingService) -> Health:
        """Ask the store and the storage whether they take requests (the same check at
        start-up and in `/healthz`)."""
        problems: list[ScreenrecError] = []
        for backend in (self.store, self.storage):
            try:
                await backend.ping()
            except ScreenrecError as exc:
                problems.append(exc)
        return Health(self.store.name, self.storage.name, problems)

    async def count_by_state(self: RecordingService) -> dict[RecordingState, int]:
        """How many recordings are in each state, for `/metrics`."""
        return await self.store.count_by_state()

    async def open_download(
        self: RecordingService,
        key: str,
        *,
        byte_range: str | None = None,
        if_none_match: str | None = None,
        head: bool = False,
    ) -> Download:
        """Open a download key (`{recordId}/final.webm`, or a chunk kept on storage). A final
        is served only once its recording is `ready`. Raises InvalidKey or NotFound."""
        record_id, name = parse_key(key)
        rec = await self.status(record_id)
        if name in CONTENT_TYPES and rec.state != RecordingState.READY:
            raise NotFound(
                f"recording {record_id} has no {name} yet (it is {rec.state})", record_id=record_id
            )
        kind = content_type(name)
        ext = name.rsplit(".", 1)[-1]
        filename = f"{record_id}.{ext}" if name.startswith("final.") else f"{record_id}-{name}"
        found = Download(record_id, name, filename, kind)
        storage = self.storage
        if isinstance(storage, LocalFiles):
            path = storage.local_path(record_id, name)
            if path is None:
                raise NotFound(f"no file {record_id}/{name}", record_id=record_id)
            return _with(found, path=path)
        if isinstance(storage, RemoteDownloads):
            url = await storage.presigned_url(record_id, name, filename, kind)
            if url is not None:
                return _with(found, redirect=url)
            read = await storage.open_read(
                record_id, name, byte_range=byte_range, if_none_match=if_none_match, head=head
            )
            return _with(found, read=read)
        raise NotFound(f"storage {storage.name} serves no downloads", record_id=record_id)


def _with(download: Download, **source: object) -> Download:
    return replace(download, **source)  # type: ignore[arg-type]
