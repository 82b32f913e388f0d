"""SqliteStore: the embedded state store, one SQLite file in WAL mode shared by all processes.

The hot path (start, reserve, commit, release, get) runs on the event loop itself, on its own
connection that never waits for a lock: each of those is one short transaction that, in WAL mode
with `synchronous = NORMAL`, only appends to the WAL in the page cache (tens of microseconds), and
two thread hops per chunk cost more than that in queueing under load. Should the database be
locked (another process writing), the same transaction is retried on a dedicated thread that waits
for the lock. Everything else (lists, chunk rows, finalize, checkpoints) runs on that thread.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from screenrec.errors import (
    AlreadyFinished,
    Busy,
    InvalidPayload,
    LimitExceeded,
    NotStarted,
    StorageError,
)
from screenrec.models import Chunk, ChunkState, Recording, RecordingState, Reservation

T = TypeVar("T")

CHECKPOINT_EVERY = 1000  # loop transactions between WAL checkpoints (run on the thread)
_RETRY_ON_THREAD = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS recordings (
    id          TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    next_index  INTEGER NOT NULL DEFAULT 0,
    chunks      INTEGER NOT NULL DEFAULT 0,
    bytes       INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    lease_until REAL,
    duration_ms INTEGER,
    final_bytes INTEGER,
    error       TEXT,
    warnings    TEXT,
    container   TEXT,
    video_codec TEXT,
    audio_codec TEXT,
    final_name  TEXT,
    poster      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS recordings_newest ON recordings (created_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS chunks (
    recording_id TEXT NOT NULL,
    idx          INTEGER NOT NULL,
    seq          INTEGER,
    size         INTEGER NOT NULL,
    state        TEXT NOT NULL,
    created_at   REAL NOT NULL,
    PRIMARY KEY (recording_id, idx)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS chunks_by_seq ON chunks (recording_id, seq)
    WHERE seq IS NOT NULL;
"""

_RECORDING_COLUMNS = (
    "id, state, next_index, chunks, bytes, created_at, updated_at, "
    "duration_ms, final_bytes, error, warnings, container, video_codec, audio_codec, "
    "final_name, poster"
)
# Columns added since the first schema: (name, declaration), added to older files on open.
_ADDED_COLUMNS = (
    ("container", "TEXT"),
    ("video_codec", "TEXT"),
    ("audio_codec", "TEXT"),
    ("final_name", "TEXT"),
    ("poster", "INTEGER NOT NULL DEFAULT 0"),
)


def _recording(row: tuple) -> Recording:
    return Recording(
        record_id=row[0],
        state=RecordingState(row[1]),
        next_index=row[2],
        chunks=row[3],
        bytes=row[4],
        created_at=row[5],
        updated_at=row[6],
        duration_ms=row[7],
        final_bytes=row[8],
        error=row[9],
        warnings=tuple(json.loads(row[10])) if row[10] else (),
        container=row[11],
        video_codec=row[12],
        audio_codec=row[13],
        final_name=row[14],
        poster=bool(row[15]),
    )


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the columns a state file made by an older version lacks."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(recordings)")}
    for name, declaration in _ADDED_COLUMNS:
        if name not in have:
            conn.execute(f"ALTER TABLE recordings ADD COLUMN {name} {declaration}")


class SqliteStore:
    """StateStore over one SQLite file; safe for `serve` and the CLI to use at the same time."""

    name = "sqlite"

    def __init__(self, path: Path, checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        self.path = path
        self.checkpoint_every = checkpoint_every
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="screenrec-sqlite")
        self._conn: sqlite3.Connection | None = None  # the thread's: waits for locks
        self._loop_conn: sqlite3.Connection | None = None  # the event loop's: never waits
        self._loop_calls = 0
        self._checkpoint: asyncio.Future[object] | None = None

    # -- plumbing -------------------------------------------------------------------------

    def _open(self, *, busy_ms: int) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL survives a process crash; a power cut can lose the last commits, which
        # start() repairs from storage (ensure_next_index) and create-only writes contain.
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = self._open(busy_ms=10_000)
            conn.executescript(_SCHEMA)
            _migrate(conn)
            self._conn = conn
        return self._conn

    @staticmethod
    def _call(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return fn(conn)
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on the store's thread, waiting for the database lock if need be."""
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, lambda: self._call(self._connect(), fn)
            )
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc

    def _failed(self, exc: sqlite3.Error) -> StorageError:
        return StorageError(f"state store ({self.path}): {exc}")

    async def _run_here(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run the short transaction `fn` on the event loop; if the database is locked, run it
        on the thread instead (nothing was written: every writer begins IMMEDIATE)."""
        if self._loop_conn is None:
            if self._conn is None:  # create the schema first, on the thread
                await self._run(lambda conn: None)
            self._loop_conn = self._open(busy_ms=0)
            # Checkpoints fsync: leave them to the thread (below), not to whichever commit
            # crosses SQLite's automatic threshold.
            self._loop_conn.execute("PRAGMA wal_autocheckpoint = 0")
        if self._checkpoint is not None:
            # Queue behind the checkpoint on the thread: with no writer beside it, it copies
            # every frame, and the next write starts the WAL over instead of growing it.
            return await self._run(fn)
        try:
            result = self._call(self._loop_conn, fn)
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _RETRY_ON_THREAD:
                return await self._run(fn)
            raise self._failed(exc) from exc
        self._loop_calls += 1
        if self._loop_calls % self.checkpoint_every == 0 and self._checkpoint is None:
            self._checkpoint = asyncio.ensure_future(
                self._run(lambda conn: conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
            )
            self._checkpoint.add_done_callback(self._checkpointed)
        return result

    def _checkpointed(self, task: asyncio.Future[object]) -> None:
        self._checkpoint = None
        if not task.cancelled():
            task.exception()  # a failed checkpoint is retried checkpoint_every calls later

    @staticmethod
    def _live(conn: sqlite3.Connection, record_id: str) -> tuple[str, int, int]:
        """(state, next_index, bytes stored) of a live recording; raises otherwise."""
        row = conn.execute(
            "SELECT state, next_index, bytes FROM recordings WHERE id = ?", (record_id,)
        ).fetchone()
        if row is None:
            raise NotStarted(f"recording {record_id} was never started", record_id=record_id)
        if row[0] != RecordingState.RECORDING:
            raise AlreadyFinished(f"recording {record_id} is {row[0]}", record_id=record_id)
        return row

    @staticmethod
    def _get(conn: sqlite3.Connection, record_id: str) -> Recording | None:
        row = conn.execute(
            f"SELECT {_RECORDING_COLUMNS} FROM recordings WHERE id = ?", (record_id,)
        ).fetchone()
        return _recording(row) if row else None

    # -- StateStore -----------------------------------------------------------------------

    async def start(self, record_id: str, now: float) -> tuple[Recording, bool]:
        def tx(conn: sqlite3.Connection) -> tuple[Recording, bool]:
            conn.execute("BEGIN IMMEDIATE")
            existing = self._get(conn, record_id)
            if existing is None:
                conn.execute(
                    "INSERT INTO recordings (id, state, created_at, updated_at) VALUES (?,?,?,?)",
                    (record_id, RecordingState.RECORDING, now, now),
                )
            elif existing.state != RecordingState.RECORDING:
                raise AlreadyFinished(
                    f"recording {record_id} is {existing.state}", record_id=record_id
                )
            else:
                conn.execute("UPDATE recordings SET updated_at = ? WHERE id = ?", (now, record_id))
            rec = self._get(conn, record_id)
            conn.execute("COMMIT")
            assert rec is not None
            return rec, existing is None

        return await self._run_here(tx)

    async def reserve_chunk(
        self, record_id: str, seq: int | None, size: int, now: float, max_bytes: int | None = None
    ) -> Reservation:
        def tx(conn: sqlite3.Connection) -> Reservation:
            conn.execute("BEGIN IMMEDIATE")
            _, index, stored = self._live(conn, record_id)
            if seq is not None:
                seen = conn.execute(
                    "SELECT idx, size, state FROM chunks WHERE recording_id = ? AND seq = ?",
                    (record_id, seq),
                ).fetchone()
                if seen is not None:
                    conn.execute("COMMIT")
                    if seen[1] != size:
                        raise InvalidPayload(
                            f"seq {seq} was already received with {seen[1]} bytes, not {size}",
                            record_id=record_id,
                        )
                    return Reservation(seen[0], duplicate=True, state=ChunkState(seen[2]))
            if max_bytes is not None and stored + size > max_bytes:
                raise LimitExceeded(
                    f"recording {record_id} would exceed {max_bytes} bytes",
                    record_id=record_id,
                )
            conn.execute(
                "INSERT INTO chunks (recording_id, idx, seq, size, state, created_at) "
                "VALUES (?,?,?,?,?,?)",
                (record_id, index, seq, size, ChunkState.PENDING, now),
            )
            conn.execute(
                "UPDATE recordings SET next_index = ?, updated_at = ? WHERE id = ?",
                (index + 1, now, record_id),
            )
            conn.execute("COMMIT")
            return Reservation(index, duplicate=False, state=ChunkState.PENDING)

        return await self._run_here(tx)

    async def commit_chunk(self, record_id: str, index: int, now: float) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "UPDATE chunks SET state = ? WHERE recording_id = ? AND idx = ? AND state = ? "
                "RETURNING size",
                (ChunkState.STORED, record_id, index, ChunkState.PENDING),
            ).fetchone()
            if row is None:
                conn.execute("ROLLBACK")
                raise AlreadyFinished(
                    f"recording {record_id} was finalized before chunk {index} was stored",
                    record_id=record_id,
                )
            conn.execute(
                "UPDATE recordings SET chunks = chunks + 1, bytes = bytes + ?, updated_at = ? "
                "WHERE id = ?",
                (row[0], now, record_id),
            )
            conn.execute("COMMIT")

        await self._run_here(tx)

    async def release_chunk(self, record_id: str, index: int) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM chunks WHERE recording_id = ? AND idx = ? AND state = ?",
                (record_id, index, ChunkState.PENDING),
            )

        await self._run_here(tx)

    async def ensure_next_index(self, record_id: str, next_index: int) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE recordings SET next_index = max(next_index, ?) WHERE id = ?",
                (next_index, record_id),
            )

        await self._run_here(tx)

    async def get(self, record_id: str) -> Recording | None:
        return await self._run_here(lambda conn: self._get(conn, record_id))

    async def list(
        self,
        *,
        limit: int,
        before: tuple[float, str] | None = None,
        states: tuple[RecordingState, ...] = (),
        created_before: float | None = None,
        updated_before: float | None = None,
    ) -> list[Recording]:
        where: list[str] = []
        params: list[object] = []
        if before is not None:
            where.append("(created_at, id) < (?, ?)")
            params.extend(before)
        if created_before is not None:
            where.append("created_at < ?")
            params.append(created_before)
        if updated_before is not None:
            where.append("updated_at < ?")
            params.append(updated_before)
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            params.extend(str(s) for s in states)
        sql = f"SELECT {_RECORDING_COLUMNS} FROM recordings"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(limit)
        rows = await self._run(lambda conn: conn.execute(sql, params).fetchall())
        return [_recording(r) for r in rows]

    async def count_by_state(self) -> dict[RecordingState, int]:
        rows = await self._run(
            lambda conn: conn.execute(
                "SELECT state, count(*) FROM recordings GROUP BY state"
            ).fetchall()
        )
        return {RecordingState(state): n for state, n in rows}

    async def chunks(self, record_id: str) -> list[Chunk]:
        rows = await self._run(
            lambda conn: conn.execute(
                "SELECT idx, seq, size, state, created_at FROM chunks WHERE recording_id = ? "
                "ORDER BY idx",
                (record_id,),
            ).fetchall()
        )
        return [Chunk(r[0], r[1], r[2], ChunkState(r[3]), r[4]) for r in rows]

    async def begin_finalize(
        self, record_id: str, lease_seconds: float, now: float
    ) -> tuple[Recording, bool]:
        def tx(conn: sqlite3.Connection) -> tuple[Recording, bool]:
            conn.execute("BEGIN IMMEDIATE")
            rec = self._get(conn, record_id)
            if rec is None:
                raise NotStarted(f"recording {record_id} was never started", record_id=record_id)
            if rec.state == RecordingState.READY:
                conn.execute("COMMIT")
                return rec, False
            if rec.state == RecordingState.PROCESSING:
                (lease_until,) = conn.execute(
                    "SELECT lease_until FROM recordings WHERE id = ?", (record_id,)
                ).fetchone()
                if lease_until is not None and lease_until > now:
                    raise Busy(
                        f"recording {record_id} is being finalized by another process",
                        record_id=record_id,
                    )
            conn.execute(
                "UPDATE recordings SET state = ?, lease_until = ?, updated_at = ?, error = NULL "
                "WHERE id = ?",
                (RecordingState.PROCESSING, now + lease_seconds, now, record_id),
            )
            rec = self._get(conn, record_id)
            conn.execute("COMMIT")
            assert rec is not None
            return rec, True

        return await self._run(tx)

    async def seal(
        self,
        record_id: str,
        stored: list[int],
        abandoned: list[int],
        adopted: dict[int, int] | None = None,
    ) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT OR IGNORE INTO chunks (recording_id, idx, seq, size, state, created_at) "
                "VALUES (?, ?, NULL, ?, ?, 0)",
                [(record_id, i, size, ChunkState.STORED) for i, size in (adopted or {}).items()],
            )
            for state, indices in ((ChunkState.STORED, stored), (ChunkState.ABANDONED, abandoned)):
                conn.executemany(
                    "UPDATE chunks SET state = ? WHERE recording_id = ? AND idx = ? AND state = ?",
                    [(state, record_id, i, ChunkState.PENDING) for i in indices],
                )
            conn.execute(
                "UPDATE recordings SET (chunks, bytes) = (SELECT count(*), coalesce(sum(size), 0) "
                "FROM chunks WHERE recording_id = ? AND state = ?) WHERE id = ?",
                (record_id, ChunkState.STORED, record_id),
            )
            conn.execute("COMMIT")

        await self._run(tx)

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
        def tx(conn: sqlite3.Connection) -> Recording:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "UPDATE recordings SET state = ?, lease_until = NULL, updated_at = ?, "
                "duration_ms = ?, final_bytes = ?, error = ?, warnings = ?, final_name = ?, "
                "poster = ? WHERE id = ?",
                (
                    state,
                    now,
                    duration_ms,
                    final_bytes,
                    error,
                    json.dumps(list(warnings)) if warnings else None,
                    final_name,
                    int(poster),
                    record_id,
                ),
            )
            rec = self._get(conn, record_id)
            conn.execute("COMMIT")
            if rec is None:
                raise NotStarted(f"recording {record_id} vanished", record_id=record_id)
            return rec

        return await self._run(tx)

    async def set_media(
        self, record_id: str, container: str, video_codec: str | None, audio_codec: str | None
    ) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE recordings SET container = ?, video_codec = ?, audio_codec = ? "
                "WHERE id = ?",
                (container, video_codec, audio_codec, record_id),
            )

        await self._run_here(tx)

    async def delete(self, record_id: str) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM chunks WHERE recording_id = ?", (record_id,))
            conn.execute("DELETE FROM recordings WHERE id = ?", (record_id,))
            conn.execute("COMMIT")

        await self._run(tx)

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        if self._checkpoint is not None:
            await asyncio.wait([self._checkpoint])
        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None

        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=True)
