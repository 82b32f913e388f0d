"""SqliteStore: the embedded state store, one SQLite file in WAL mode shared by all processes
(the plumbing, schema and fast path are in `sqlite_base.py`)."""

from __future__ import annotations

import json
import sqlite3

from screenrec.errors import (
    AlreadyFinished,
    Busy,
    InvalidPayload,
    LimitExceeded,
    NotStarted,
)
from screenrec.models import (
    Chunk,
    ChunkState,
    DerivativeState,
    Recording,
    RecordingState,
    Reservation,
)
from screenrec.store.derivatives import with_derivative
from screenrec.store.sqlite_base import RECORDING_COLUMNS, SqliteBase, recording_from_row


class SqliteStore(SqliteBase):
    """StateStore over one SQLite file; safe for `serve` and the CLI to use at the same time."""

    name = "sqlite"

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
            f"SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = ?", (record_id,)
        ).fetchone()
        return recording_from_row(row) if row else None

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
        sql = f"SELECT {RECORDING_COLUMNS} FROM recordings"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(limit)
        rows = await self._run(lambda conn: conn.execute(sql, params).fetchall())
        return [recording_from_row(r) for r in rows]

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

    async def set_poster(self, record_id: str) -> None:
        await self._run_here(
            lambda conn: conn.execute("UPDATE recordings SET poster = 1 WHERE id = ?", (record_id,))
        )

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

    @staticmethod
    def _set_derivative(
        conn: sqlite3.Connection,
        record_id: str,
        kind: str,
        status: DerivativeState,
        error: str | None,
    ) -> bool:
        row = conn.execute("SELECT derivatives FROM recordings WHERE id = ?", (record_id,))
        found = row.fetchone()
        if found is None:
            return False
        conn.execute(
            "UPDATE recordings SET derivatives = ? WHERE id = ?",
            (with_derivative(found[0], kind, status, error), record_id),
        )
        return True

    async def enqueue_derivative(self, record_id: str, kind: str, now: float) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            rec = self._get(conn, record_id)
            done = rec is None or any(
                d.kind == kind and d.status == DerivativeState.READY for d in rec.derivatives
            )
            if not done:
                self._set_derivative(conn, record_id, kind, DerivativeState.PENDING, None)
                conn.execute(
                    "INSERT OR REPLACE INTO derive_jobs (recording_id, kind, available_at) "
                    "VALUES (?, ?, ?)",
                    (record_id, kind, now),
                )
            conn.execute("COMMIT")

        await self._run(tx)

    async def claim_derivative(
        self, now: float, lease: float, record_id: str | None = None
    ) -> tuple[str, str, int] | None:
        def tx(conn: sqlite3.Connection) -> tuple[str, str, int] | None:
            conn.execute("BEGIN IMMEDIATE")
            sql = "SELECT recording_id, kind, attempts FROM derive_jobs WHERE available_at <= ?"
            params: list[object] = [now]
            if record_id is not None:
                sql += " AND recording_id = ?"
                params.append(record_id)
            row = conn.execute(sql + " ORDER BY available_at LIMIT 1", params).fetchone()
            if row is not None:
                conn.execute(
                    "UPDATE derive_jobs SET available_at = ?, attempts = attempts + 1 "
                    "WHERE recording_id = ? AND kind = ?",
                    (now + lease, row[0], row[1]),
                )
            conn.execute("COMMIT")
            return None if row is None else (row[0], row[1], row[2] + 1)

        return await self._run(tx)

    async def renew_derivative(self, record_id: str, kind: str, until: float) -> None:
        await self._run(
            lambda conn: conn.execute(
                "UPDATE derive_jobs SET available_at = ? WHERE recording_id = ? AND kind = ?",
                (until, record_id, kind),
            )
        )

    async def finish_derivative(
        self,
        record_id: str,
        kind: str,
        status: DerivativeState,
        *,
        error: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            self._set_derivative(conn, record_id, kind, status, error)
            where = (record_id, kind)
            if status == DerivativeState.PENDING and retry_at is not None:
                conn.execute(
                    "UPDATE derive_jobs SET available_at = ? WHERE recording_id = ? AND kind = ?",
                    (retry_at, *where),
                )
            else:
                conn.execute("DELETE FROM derive_jobs WHERE recording_id = ? AND kind = ?", where)
            conn.execute("COMMIT")

        await self._run(tx)

    async def delete(self, record_id: str) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM derive_jobs WHERE recording_id = ?", (record_id,))
            conn.execute("DELETE FROM chunks WHERE recording_id = ?", (record_id,))
            conn.execute("DELETE FROM recordings WHERE id = ?", (record_id,))
            conn.execute("COMMIT")

        await self._run(tx)
