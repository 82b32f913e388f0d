"""Derivatives: copies of a ready recording made in the background (`--derive mp4`: an H.264
+ AAC `final.mp4` of a WebM final). Jobs live in the state store with a lease, so a crash, a
restart or another instance never loses one. Mixed into RecordingService."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from screenrec.errors import NotFound, ScreenrecError
from screenrec.media.derive import make_mp4_copy
from screenrec.models import FINAL_MP4, FINAL_NAME, DerivativeState, Recording, RecordingState
from screenrec.storage import LocalFiles, RemoteDownloads
from screenrec.store.derivatives import LEASE_SECONDS

if TYPE_CHECKING:
    from screenrec.service.core import RecordingService

log = logging.getLogger("screenrec")
DerivedListener = Callable[[Recording, str], Awaitable[None]]
MAX_ATTEMPTS = 3  # then the derivative is `failed`, with the last attempt's reason
RETRY_AFTER = 30.0  # seconds, times the attempt number
POLL_SECONDS = 2.0  # how often an idle worker looks for jobs queued by other processes
WEBM_VIDEO = frozenset({"vp8", "vp9", "av1"})


class Deriving:
    """Queue, claim and make derivatives. Mixed into RecordingService."""

    def derivatives_for(self: RecordingService, rec: Recording) -> list[str]:
        """The derivatives the settings ask for that this recording can have: an MP4 copy of
        a WebM final with video (an MP4 final needs none)."""
        webm_final = (rec.final_name or FINAL_NAME) == FINAL_NAME
        ready = rec.state == RecordingState.READY
        wanted = "mp4" in self.settings.derive and ready and webm_final
        return ["mp4"] if wanted and rec.video_codec in WEBM_VIDEO else []

    async def queue_derivatives(self: RecordingService, rec: Recording) -> Recording:
        """Queue the derivatives `rec` should get; the recording as it is then."""
        kinds = self.derivatives_for(rec)
        for kind in kinds:
            await self.store.enqueue_derivative(rec.record_id, kind, time.time())
        if not kinds:
            return rec
        self._derive_wakeup.set()
        return await self.status(rec.record_id)

    async def derive_now(self: RecordingService, rec: Recording) -> Recording:
        """Queue what `rec` should get and make it here and now, unless another process is
        already at it (the CLI's `finalize --derive`); the recording as it is then."""
        await self.queue_derivatives(rec)
        while await self.derive_next(rec.record_id):
            pass
        return await self.status(rec.record_id)

    def on_derived(self: RecordingService, listener: DerivedListener) -> None:
        """Call `listener(recording, kind)` when a derivative is ready or has failed for good
        (in the background, like `on_finished`)."""
        self._derived_listeners.append(listener)

    async def derive_forever(self: RecordingService) -> None:
        """`derive_workers` workers taking jobs until cancelled: woken when this process
        queues one, and every POLL_SECONDS for jobs other processes queued or left behind."""
        if not self.settings.derive:
            return
        await asyncio.gather(*(self._derive_worker() for _ in range(self.settings.derive_workers)))

    async def _derive_worker(self: RecordingService) -> None:
        while True:
            try:
                if await self.derive_next():
                    continue
            except ScreenrecError as exc:  # the store is down: try again later
                log.warning("derivative jobs: %s", exc.message)
            self._derive_wakeup.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._derive_wakeup.wait(), POLL_SECONDS)

    async def derive_next(self: RecordingService, record_id: str | None = None) -> bool:
        """Claim one due job (only `record_id`'s, if given) and make it; False when none."""
        claimed = await self.store.claim_derivative(time.time(), LEASE_SECONDS, record_id)
        if claimed is None:
            return False
        await self._make_derivative(*claimed)
        return True

    async def _make_derivative(
        self: RecordingService, record_id: str, kind: str, attempt: int
    ) -> None:
        started = time.monotonic()
        keeper = asyncio.create_task(self._keep_lease(record_id, kind))
        try:
            await self._make_mp4_copy(record_id)
        except NotFound:  # purged meanwhile: nothing to make, nothing to report
            await self.store.finish_derivative(record_id, kind, DerivativeState.FAILED)
            return
        except ScreenrecError as exc:
            await self._derivative_failed(record_id, kind, attempt, exc.message)
            return
        finally:
            keeper.cancel()
            with suppress(asyncio.CancelledError):
                await keeper
        await self.store.finish_derivative(record_id, kind, DerivativeState.READY)
        log.info(
            "%s: %s copy made in %.1f s", record_id, kind, time.monotonic() - started,
            extra={"recordId": record_id},
        )  # fmt: skip
        await self._derived(record_id, kind)

    async def _derivative_failed(
        self: RecordingService, record_id: str, kind: str, attempt: int, why: str
    ) -> None:
        if attempt < MAX_ATTEMPTS:
            retry_at = time.time() + RETRY_AFTER * attempt
            log.warning("%s: %s copy failed (attempt %d): %s; trying again", record_id, kind,
                        attempt, why, extra={"recordId": record_id})  # fmt: skip
            await self.store.finish_derivative(
                record_id, kind, DerivativeState.PENDING, error=why, retry_at=retry_at
            )
            return
        log.error("%s: %s copy failed for good: %s", record_id, kind, why,
                  extra={"recordId": record_id})  # fmt: skip
        await self.store.finish_derivative(record_id, kind, DerivativeState.FAILED, error=why)
        await self._derived(record_id, kind)

    async def _derived(self: RecordingService, record_id: str, kind: str) -> None:
        with suppress(NotFound):
            rec = await self.status(record_id)
            for listener in self._derived_listeners:
                self._in_background(listener(rec, kind))

    async def _keep_lease(self: RecordingService, record_id: str, kind: str) -> None:
        """Renew the job's lease while its worker runs, so nobody else takes it."""
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            with suppress(ScreenrecError):  # a missed renewal costs at most a second run
                await self.store.renew_derivative(record_id, kind, time.time() + LEASE_SECONDS)

    async def _make_mp4_copy(self: RecordingService, record_id: str) -> None:
        rec = await self.status(record_id)
        scratch = self.storage.scratch_dir()
        output = scratch / f"{record_id}.{uuid.uuid4().hex}.mp4"
        source, fetched = await self._local_final(record_id, scratch)
        try:
            seconds = (rec.duration_ms or 0) / 1000
            timeout = self.settings.finalize_timeout + 4 * seconds
            async with self._ffmpeg_slots:
                await make_mp4_copy(self.ffmpeg, source, output, timeout=timeout)
            await self.storage.put_final(record_id, output, FINAL_MP4)
        finally:
            for leftover in (output, source if fetched else None):
                if leftover is not None:
                    leftover.unlink(missing_ok=True)

    async def _local_final(
        self: RecordingService, record_id: str, scratch: Path
    ) -> tuple[Path, bool]:
        """The WebM final as a local file: the stored one on a local disk, else a scratch
        copy (S3). The bool says whether it is a copy to delete afterwards."""
        storage = self.storage
        if isinstance(storage, LocalFiles):
            path = storage.local_path(record_id, FINAL_NAME)
            if path is None:
                raise NotFound(f"no file {record_id}/{FINAL_NAME}", record_id=record_id)
            return path, False
        assert isinstance(storage, RemoteDownloads), "a storage serves its files one way"
        read = await storage.open_read(record_id, FINAL_NAME, byte_range=None, if_none_match=None)
        copy = scratch / f"{record_id}.{uuid.uuid4().hex}.webm"
        try:
            with copy.open("wb") as out:
                assert read.body is not None
                async for block in read.body:
                    await asyncio.to_thread(out.write, block)
        except BaseException:
            copy.unlink(missing_ok=True)
            raise
        return copy, True
