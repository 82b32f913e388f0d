"""The plumbing of the SQLite store: the schema and its migrations, the two connections (the
event loop's, which never waits for a lock, and the store thread's, which does), WAL
checkpoints on the thread, and closing.

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

from screenrec.errors import StorageError
from screenrec.models import Recording, RecordingState
from screenrec.store.derivatives import derivatives_from_json

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
    poster      INTEGER NOT NULL DEFAULT 0,
    derivatives TEXT
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
CREATE TABLE IF NOT EXISTS derive_jobs (
    recording_id TEXT NOT NULL,
    kind         TEXT NOT NULL,
    available_at REAL NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (recording_id, kind)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS derive_jobs_due ON derive_jobs (available_at);
CREATE UNIQUE INDEX IF NOT EXISTS chunks_by_seq ON chunks (recording_id, seq)
    WHERE seq IS NOT NULL;
"""

RECORDING_COLUMNS = (
    "id, state, next_index, chunks, bytes, created_at, updated_at, "
    "duration_ms, final_bytes, error, warnings, container, video_codec, audio_codec, "
    "final_name, poster, derivatives"
)
# Columns added since the first schema: (name, declaration), added to older files on open.
_ADDED_COLUMNS = (
    ("container", "TEXT"),
    ("video_codec", "TEXT"),
    ("audio_codec", "TEXT"),
    ("final_name", "TEXT"),
    ("poster", "INTEGER NOT NULL DEFAULT 0"),
    ("derivatives", "TEXT"),
)


def recording_from_row(row: tuple) -> Recording:
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
        derivatives=derivatives_from_json(row[16]),
    )


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the columns a state file made by an older version lacks."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(recordings)")}
    for name, declaration in _ADDED_COLUMNS:
        if name not in have:
            conn.execute(f"ALTER TABLE recordings ADD COLUMN {name} {declaration}")


class SqliteBase:
    """One SQLite file, two connections, and the machinery to run a transaction on either."""

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
