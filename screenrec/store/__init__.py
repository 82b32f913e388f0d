"""The StateStore interface (counters, status, chunk rows, finalize leases) and its registry."""

from __future__ import annotations

from typing import Protocol

from screenrec.config import Settings
from screenrec.errors import ConfigError
from screenrec.models import Chunk, DerivativeState, Recording, RecordingState, Reservation


class StateStore(Protocol):
    """Recording state shared by every process (and, with Redis, every instance).

    Every method is atomic on its own. `now` is Unix seconds, passed in so callers own time.
    """

    name: str

    async def start(self, record_id: str, now: float) -> tuple[Recording, bool]:
        """Create the recording (counter 0) or return the live one; the bool says "created".

        Raises AlreadyFinished if it exists and is not `recording`."""

    async def reserve_chunk(
        self, record_id: str, seq: int | None, size: int, now: float, max_bytes: int | None = None
    ) -> Reservation:
        """Take the next index for a chunk of `size` bytes, as a pending row.

        With a `seq` seen before, return that row's index with `duplicate=True` instead.
        Raises NotStarted (no such recording), AlreadyFinished (not `recording`), InvalidPayload
        (a seen `seq` with another size), LimitExceeded (stored bytes + size > `max_bytes`)."""

    async def commit_chunk(self, record_id: str, index: int, now: float) -> None:
        """Mark a pending chunk stored (counts toward chunks/bytes).

        Raises AlreadyFinished if the row was abandoned because finalize sealed the recording."""

    async def release_chunk(self, record_id: str, index: int) -> None:
        """Drop a pending row whose bytes could not be stored (its index stays unused)."""

    async def ensure_next_index(self, record_id: str, next_index: int) -> None:
        """Raise the counter to at least `next_index` (storage holds chunks the counter lost)."""

    async def get(self, record_id: str) -> Recording | None:
        """The recording, or None."""

    async def list(
        self,
        *,
        limit: int,
        before: tuple[float, str] | None = None,
        states: tuple[RecordingState, ...] = (),
        created_before: float | None = None,
        updated_before: float | None = None,
    ) -> list[Recording]:
        """Recordings newest first, strictly older than the `(created_at, id)` cursor `before`,
        filtered by state and by creation or last-activity time."""

    async def count_by_state(self) -> dict[RecordingState, int]:
        """How many recordings are in each state (states with none are left out)."""

    async def chunks(self, record_id: str) -> list[Chunk]:
        """Every chunk row of the recording, by index."""

    async def begin_finalize(
        self, record_id: str, lease_seconds: float, now: float
    ) -> tuple[Recording, bool]:
        """Take the finalize lease: state -> processing. The bool is False when already ready.

        Raises NotStarted (unknown id) or Busy (someone else holds an unexpired lease)."""

    async def seal(
        self,
        record_id: str,
        stored: list[int],
        abandoned: list[int],
        adopted: dict[int, int] | None = None,
    ) -> None:
        """Settle pending rows before finalize: `stored` ones count, `abandoned` ones never
        will; `adopted` (index -> size) are stored chunks the store has no row for."""

    async def finish(
        self,
        record_id: str,
        state: RecordingState,
        now: float,
        *,
        duration_ms: int | None = None,
        final_bytes: int | None = None,
        error: str | None = None,
        warnings: tuple[str, ...] = (),
        final_name: str | None = None,
        poster: bool = False,
    ) -> Recording:
        """End processing as `ready` or `failed`, release the lease, drop the live counter.
        A ready recording records its final's file name and whether a poster was made."""

    async def set_poster(self, record_id: str) -> None:
        """Note that `poster.jpg` is stored beside the final (no-op for unknown ids)."""

    async def set_media(
        self, record_id: str, container: str, video_codec: str | None, audio_codec: str | None
    ) -> None:
        """Record the container and codecs found in the first chunk (no-op for unknown ids)."""

    async def enqueue_derivative(self, record_id: str, kind: str, now: float) -> None:
        """Mark derivative `kind` pending and queue its job, due now. A ready one is left as
        it is; an unknown recording is ignored."""

    async def claim_derivative(
        self, now: float, lease: float, record_id: str | None = None
    ) -> tuple[str, str, int] | None:
        """Take the next due job (only `record_id`'s, if given) and hide it for `lease`
        seconds: (recordId, kind, attempt number), or None when nothing is due. A job whose
        worker died reappears once its lease ends."""

    async def renew_derivative(self, record_id: str, kind: str, until: float) -> None:
        """Keep a claimed job hidden until `until` (its worker is still at it)."""

    async def finish_derivative(
        self,
        record_id: str,
        kind: str,
        status: DerivativeState,
        *,
        error: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        """Record the outcome: `ready` or `failed` ends the job; `pending` with `retry_at`
        puts it back in the queue, due then, with `error` as the last attempt's reason."""

    async def delete(self, record_id: str) -> None:
        """Forget the recording and its chunk rows (missing ids are ignored)."""

    async def ping(self) -> None:
        """Raise StorageError if the store cannot be reached."""

    async def close(self) -> None:
        """Release connections and threads."""


def open_store(settings: Settings) -> StateStore:
    """The store the settings select: SQLite in the data dir unless Redis is configured."""
    if settings.redis_url:
        if not settings.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"--redis-url must start with redis://, rediss:// or unix://, "
                f"got {settings.redis_url!r}"
            )
        from screenrec.store.redis_store import RedisStore

        return RedisStore(settings.redis_url)
    from screenrec.store.sqlite_store import SqliteStore

    return SqliteStore(settings.sqlite_path)
