"""Making the final: settle the chunks, choose the final's container from the recording's
codecs (never re-encoding video), remux, measure, store, and make the poster."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from screenrec.errors import FinalizeFailed, ScreenrecError
from screenrec.media.container import read_init
from screenrec.media.final import WEBM_PLAN, OutputPlan, duration_ms, plan_output, remux_to
from screenrec.media.poster import make_poster
from screenrec.media.webm_assemble import assemble, scan_index
from screenrec.media.webm_writer import final_duration_ms
from screenrec.models import (
    POSTER_NAME,
    Chunk,
    ChunkState,
    Recording,
    RecordingState,
    chunk_name,
)
from screenrec.service.final import describe_ffmpeg_warnings, plan_final
from screenrec.storage import LocalFiles

if TYPE_CHECKING:
    from screenrec.service.core import RecordingService

log = logging.getLogger("screenrec")
# How long finalize waits for chunks another process reserved but has not stored yet.
PENDING_GRACE = 10.0
POLL_INTERVAL = 0.05
HEAD_BYTES = 256 * 1024  # enough of the first chunk for any init segment a browser writes


class Finalizing:
    """The work behind `finalize`, once the lease is held. Mixed into RecordingService."""

    async def _settle_chunks(
        self: RecordingService, record_id: str
    ) -> tuple[list[Chunk], set[int]]:
        """Wait for writes still in flight, then decide which pending rows made it."""
        pending_here = list(self._inflight.get(record_id, {}).values())
        if pending_here:
            await asyncio.wait(pending_here, timeout=PENDING_GRACE)
        deadline = time.monotonic() + PENDING_GRACE
        while True:
            rows = await self.store.chunks(record_id)
            young = [
                c
                for c in rows
                if c.state == ChunkState.PENDING and c.created_at > time.time() - PENDING_GRACE
            ]
            if not young or time.monotonic() > deadline:
                break
            await asyncio.sleep(POLL_INTERVAL)
        present = await self.storage.chunk_sizes(record_id)
        pending = [c.index for c in rows if c.state == ChunkState.PENDING]
        known = {c.index for c in rows}
        await self.store.seal(
            record_id,
            stored=[i for i in pending if i in present],
            abandoned=[i for i in pending if i not in present],
            # On storage with no row: the store lost them (a Redis restart). They were stored,
            # so possibly acknowledged: they count.
            adopted={i: size for i, size in present.items() if i not in known},
        )
        rows = await self.store.chunks(record_id)
        return [c for c in rows if c.state == ChunkState.STORED], set(present)

    async def _plan(
        self: RecordingService, record_id: str, ordered: list[int], warnings: list[str]
    ) -> tuple[str, OutputPlan]:
        """The final for this recording: from the container and codecs noted at its first
        chunk, or (recordings from before that, or a first chunk too short to tell) read from
        the start of the stored stream now. What screenrec cannot read is left to ffmpeg as
        WebM, the spec's format, so its own words say what is wrong."""
        rec = await self.status(record_id)
        if rec.container:
            return rec.container, plan_output(rec.container, rec.video_codec, rec.audio_codec)
        head = b""
        async for block in self.storage.read_chunks(record_id, ordered):
            head += block
            if len(head) >= HEAD_BYTES:
                break
        info = read_init(head)
        if info is None or not info.tracks:
            warnings.append("the stream's start could not be read; ffmpeg was given it as WebM")
            return "webm", WEBM_PLAN
        plan = plan_output(info.container, info.video_codec, info.audio_codec)
        await self.store.set_media(record_id, info.container, info.video_codec, info.audio_codec)
        return info.container, plan

    async def _produce_final(self: RecordingService, record_id: str) -> Recording:
        rows, present = await self._settle_chunks(record_id)
        ordered, warnings = plan_final(rows, present)
        if not ordered:
            raise FinalizeFailed("the recording has no stored chunks", record_id=record_id)
        container, plan = await self._plan(record_id, ordered, warnings)
        scratch = self.storage.scratch_dir() / f"{record_id}.{uuid.uuid4().hex}.{plan.format}"
        poster = scratch.with_suffix(".jpg")
        sizes = {c.index: c.size for c in rows}
        try:
            length = await self._from_index(
                record_id, plan, [(i, sizes[i]) for i in ordered], scratch
            )
            if length is None:
                length = await self._remux(record_id, plan, ordered, scratch, warnings)
            if plan.audio_reencoded:
                warnings.append(f"audio re-encoded to {plan.audio_codec} for {plan.file_name}")
                # The status describes the final a user downloads, not the chunks.
                await self.store.set_media(record_id, container, plan.video_codec, plan.audio_codec)
            local = isinstance(self.storage, LocalFiles)
            # On a local disk the poster is made from the stored final after `ready`, so a
            # poster never delays the answer (nor 500 of them a burst of stops).
            has_poster = not local and await self._poster(record_id, scratch, length, plan, poster)
            size = await self.storage.put_final(record_id, scratch, plan.file_name)
            if has_poster:
                await self.storage.put_final(record_id, poster, POSTER_NAME)
        finally:
            for leftover in (scratch, poster):
                with suppress(FileNotFoundError):
                    leftover.unlink()
        rec = await self.store.finish(
            record_id,
            RecordingState.READY,
            time.time(),
            duration_ms=length,
            final_bytes=size,
            warnings=tuple(warnings),
            final_name=plan.file_name,
            poster=has_poster,
        )
        if not self.settings.keep_chunks:
            # After the answer: the final is durable, the chunks are only garbage now.
            self._in_background(self.storage.delete_chunks(record_id, present))
        if local and plan.video_codec is not None:
            self._in_background(self._poster_later(record_id, plan, length))
        return await self.queue_derivatives(rec)

    async def _poster_later(
        self: RecordingService, record_id: str, plan: OutputPlan, length: int
    ) -> None:
        """Make the poster of a stored local final (at most two at once); the status shows
        `posterUrl` once it is stored. A failure is logged: the recording is ready anyway."""
        storage = self.storage
        assert isinstance(storage, LocalFiles)
        final = storage.local_path(record_id, plan.file_name)
        if final is None:
            return  # purged meanwhile
        output = storage.scratch_dir() / f"{record_id}.{uuid.uuid4().hex}.jpg"
        try:
            async with self._poster_slots:
                if await self._poster(record_id, final, length, plan, output):
                    await storage.put_final(record_id, output, POSTER_NAME)
                    await self.store.set_poster(record_id)
        except ScreenrecError as exc:
            log.warning("%s: poster not stored: %s", record_id, exc.message,
                        extra={"recordId": record_id})  # fmt: skip
        finally:
            output.unlink(missing_ok=True)

    async def _from_index(
        self: RecordingService,
        record_id: str,
        plan: OutputPlan,
        stored: list[tuple[int, int]],
        output: Path,
    ) -> int | None:
        """Write a WebM final from the stream's index, without ffmpeg: the index fed while the
        chunks arrived, if it saw exactly the stored chunks, else one rebuilt from them. Its
        duration in ms, or None when this path does not apply (not WebM copied as is, storage
        not on local disk, a stream the index could not follow) and ffmpeg must do it."""
        fed = self._indexes.take(record_id, stored)
        storage = self.storage
        if plan.codec_args != WEBM_PLAN.codec_args or not isinstance(storage, LocalFiles):
            return None  # not WebM copied as is, or not on a local disk: ffmpeg's work
        paths = [storage.local_path(record_id, chunk_name(i)) for i, _ in stored]
        if any(path is None for path in paths):
            return None
        files = [p for p in paths if p is not None]
        index = fed or await asyncio.to_thread(scan_index, files)
        total = sum(size for _, size in stored)
        if index is None or index.problem or index.parsed_to != total or not index.clusters:
            log.info("%s: the index cannot make this final; ffmpeg will", record_id,
                     extra={"recordId": record_id})  # fmt: skip
            return None
        await asyncio.to_thread(assemble, files, index, output)
        self.finalized_by["index" if fed else "scan"] += 1
        return final_duration_ms(index)

    async def _remux(
        self: RecordingService,
        record_id: str,
        plan: OutputPlan,
        ordered: list[int],
        output: Path,
        warnings: list[str],
    ) -> int:
        """Write the final with ffmpeg (MP4, audio re-encodes, S3, what the index cannot
        follow); its duration in ms."""
        async with self._ffmpeg_slots:
            lines = await remux_to(
                plan,
                self.ffmpeg,
                self.storage.read_chunks(record_id, ordered),
                output,
                timeout=self.settings.finalize_timeout,
            )
        length = await asyncio.to_thread(duration_ms, output, plan.format)
        if length is None:
            raise FinalizeFailed("ffmpeg produced a file without a duration")
        warnings.extend(describe_ffmpeg_warnings(lines))
        self.finalized_by["ffmpeg"] += 1
        return length

    async def _poster(
        self: RecordingService,
        record_id: str,
        final: Path,
        length: int,
        plan: OutputPlan,
        output: Path,
    ) -> bool:
        """Make the poster; a failure is logged, never a failed recording."""
        if plan.video_codec is None:
            return False  # audio only: nothing to show
        try:
            await make_poster(self.ffmpeg, final, length, output)
        except ScreenrecError as exc:
            log.warning("%s: no poster: %s", record_id, exc.message, extra={"recordId": record_id})
            return False
        return True
