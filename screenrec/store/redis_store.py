"""RedisStore: recording state shared by every instance, in Redis, changed only by Lua scripts.

Keys (every one built in `_Keys`): the spec's counter `recording:{id}:chunk_index` (set to 0 on
start, INCR per chunk, deleted after finalize) and, under `screenrec:`, a hash per recording, a
hash of chunk rows, a hash seq -> index, a finalize lease (SET NX PX) and a sorted set of ids.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from screenrec.errors import (
    AlreadyFinished,
    Busy,
    InvalidPayload,
    LimitExceeded,
    NotStarted,
    StorageError,
)
from screenrec.models import (
    DERIVATIVES,
    Chunk,
    ChunkState,
    DerivativeState,
    Recording,
    RecordingState,
    Reservation,
)
from screenrec.store import redis_scripts as lua
from screenrec.store.derivatives import derivatives_from_json

PREFIX = "screenrec:"
_ATTEMPTS = 4


@dataclass(frozen=True, slots=True)
class _Keys:
    """Every key of one recording, in one place."""

    record_id: str

    @property
    def counter(self) -> str:
        return f"recording:{self.record_id}:chunk_index"  # the spec's key, exactly

    @property
    def recording(self) -> str:
        return f"{PREFIX}recording:{self.record_id}"

    @property
    def chunks(self) -> str:
        return f"{PREFIX}chunks:{self.record_id}"

    @property
    def seqs(self) -> str:
        return f"{PREFIX}seqs:{self.record_id}"

    @property
    def lease(self) -> str:
        return f"{PREFIX}lease:{self.record_id}"

    def all(self) -> list[str]:
        return [self.recording, self.counter, self.chunks, self.seqs, self.lease, ALL_IDS]


ALL_IDS = f"{PREFIX}recordings"  # sorted set: created_at -> id
DERIVE_QUEUE = f"{PREFIX}derive:queue"  # sorted set: "id<TAB>kind" -> when the job is due
DERIVE_ATTEMPTS = f"{PREFIX}derive:attempts"  # hash: "id<TAB>kind" -> attempts so far


def _recording(record_id: str, fields: dict[str, str], counter: str | None) -> Recording:
    def num(name: str) -> int | None:
        return int(fields[name]) if fields.get(name) not in (None, "") else None

    warnings = fields.get("warnings") or ""
    return Recording(
        record_id=record_id,
        state=RecordingState(fields["state"]),
        next_index=int(counter) if counter is not None else (num("next_index") or 0),
        chunks=num("chunks") or 0,
        bytes=num("bytes") or 0,
        created_at=float(fields["created_at"]),
        updated_at=float(fields["updated_at"]),
        duration_ms=num("duration_ms"),
        final_bytes=num("final_bytes"),
        error=fields.get("error") or None,
        warnings=tuple(warnings.split("\n")) if warnings else (),
        container=fields.get("container") or None,
        video_codec=fields.get("video_codec") or None,
        audio_codec=fields.get("audio_codec") or None,
        final_name=fields.get("final_name") or None,
        poster=fields.get("poster") == "1",
        derivatives=derivatives_from_json(fields.get("derivatives")),
    )


def _chunk(index: str, row: str) -> Chunk:
    seq, size, state, created = row.split("|")
    return Chunk(
        int(index), int(seq) if seq else None, int(size), ChunkState(state), float(created)
    )


class RedisStore:
    """StateStore over Redis with a blocking connection pool (redis-py 8's plain pool raises
    MaxConnectionsError past 100 connections instead of waiting)."""

    name = "redis"

    def __init__(self, url: str, *, max_connections: int = 64) -> None:
        self.url = url
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=20, decode_responses=True
        )
        self._redis = aioredis.Redis(connection_pool=pool)
        self._scripts = {
            name: self._redis.register_script(src) for name, src in lua.SCRIPTS.items()
        }
        self._leases: dict[str, str] = {}

    async def _call(self, script: str, keys: _Keys, *args: Any) -> Any:
        run = self._scripts[script]
        return await self._do(lambda: run(keys=keys.all(), args=[keys.record_id, *args]))

    async def _do(self, make: Callable[[], Awaitable[Any]]) -> Any:
        """Run one Redis call; a connection that broke (Redis restarted, failed over) is
        retried on a fresh one a few times, then it is a StorageError."""
        for attempt in range(_ATTEMPTS):
            try:
                return await make()
            except (RedisConnectionError, RedisTimeoutError) as exc:
                if attempt == _ATTEMPTS - 1:
                    raise StorageError(f"state store (redis): {exc}") from exc
                await asyncio.sleep(0.05 * 2**attempt)
            except RedisError as exc:
                raise StorageError(f"state store (redis): {exc}") from exc
        raise AssertionError("unreachable")

    async def _pipeline(self, build: Callable[[Any], Any], *, transaction: bool = False) -> Any:
        """Build and run a pipeline; rebuilt on every attempt (a failed one is emptied)."""

        async def run() -> Any:
            async with self._redis.pipeline(transaction=transaction) as pipe:
                build(pipe)
                return await pipe.execute()

        return await self._do(run)

    @staticmethod
    def _refuse(record_id: str, answer: list[Any]) -> None:
        """Turn a script's refusal (`[-2]` unknown, `[-1, state]` not live) into our errors."""
        if answer[0] == -2:
            raise NotStarted(f"recording {record_id} was never started", record_id=record_id)
        if answer[0] == -1:
            raise AlreadyFinished(f"recording {record_id} is {answer[1]}", record_id=record_id)

    async def start(self, record_id: str, now: float) -> tuple[Recording, bool]:
        answer = await self._call("start", _Keys(record_id), now)
        self._refuse(record_id, answer)
        rec = await self.get(record_id)
        assert rec is not None
        return rec, answer[0] == 1

    async def reserve_chunk(
        self, record_id: str, seq: int | None, size: int, now: float, max_bytes: int | None = None
    ) -> Reservation:
        seq_arg = "" if seq is None else str(seq)
        limit = "" if max_bytes is None else str(max_bytes)
        answer = await self._call("reserve", _Keys(record_id), seq_arg, size, now, limit)
        self._refuse(record_id, answer)
        if answer[0] == -4:
            raise LimitExceeded(
                f"recording {record_id} would exceed {max_bytes} bytes", record_id=record_id
            )
        if answer[0] == 1:
            if int(answer[2]) != size:
                raise InvalidPayload(
                    f"seq {seq} was already received with {answer[2]} bytes, not {size}",
                    record_id=record_id,
                )
            return Reservation(int(answer[1]), duplicate=True, state=ChunkState(answer[3]))
        return Reservation(int(answer[1]), duplicate=False, state=ChunkState.PENDING)

    async def commit_chunk(self, record_id: str, index: int, now: float) -> None:
        if await self._call("commit", _Keys(record_id), index, now) != 1:
            raise AlreadyFinished(
                f"recording {record_id} was finalized before chunk {index} was stored",
                record_id=record_id,
            )

    async def release_chunk(self, record_id: str, index: int) -> None:
        await self._call("release", _Keys(record_id), index)

    async def ensure_next_index(self, record_id: str, next_index: int) -> None:
        await self._call("ensure_next", _Keys(record_id), next_index)

    async def get(self, record_id: str) -> Recording | None:
        keys = _Keys(record_id)
        fields, counter = await self._pipeline(
            lambda pipe: pipe.hgetall(keys.recording).get(keys.counter)
        )
        return _recording(record_id, fields, counter) if fields else None

    async def _many(self, ids: list[str]) -> list[Recording]:
        def build(pipe: Any) -> None:
            for record_id in ids:
                keys = _Keys(record_id)
                pipe.hgetall(keys.recording).get(keys.counter)

        replies = await self._pipeline(build)
        return [
            _recording(rid, replies[2 * i], replies[2 * i + 1])
            for i, rid in enumerate(ids)
            if replies[2 * i]
        ]

    async def list(
        self,
        *,
        limit: int,
        before: tuple[float, str] | None = None,
        states: tuple[RecordingState, ...] = (),
        created_before: float | None = None,
        updated_before: float | None = None,
    ) -> list[Recording]:
        pairs = await self._do(lambda: self._redis.zrevrange(ALL_IDS, 0, -1, withscores=True))
        pairs.sort(key=lambda p: (p[1], p[0]), reverse=True)  # newest first, ties by id
        if before is not None:
            pairs = [p for p in pairs if (p[1], p[0]) < before]
        if created_before is not None:
            pairs = [p for p in pairs if p[1] < created_before]
        out: list[Recording] = []
        for start in range(0, len(pairs), 500):
            for rec in await self._many([rid for rid, _ in pairs[start : start + 500]]):
                if states and rec.state not in states:
                    continue
                if updated_before is not None and rec.updated_at >= updated_before:
                    continue
                out.append(rec)
                if len(out) == limit:
                    return out
        return out

    async def count_by_state(self) -> dict[RecordingState, int]:
        ids = await self._do(lambda: self._redis.zrange(ALL_IDS, 0, -1))
        counts: dict[RecordingState, int] = {}
        for rec in await self._many(ids):
            counts[rec.state] = counts.get(rec.state, 0) + 1
        return counts

    async def chunks(self, record_id: str) -> list[Chunk]:
        rows = await self._do(lambda: self._redis.hgetall(_Keys(record_id).chunks))
        return sorted((_chunk(i, row) for i, row in rows.items()), key=lambda c: c.index)

    async def begin_finalize(
        self, record_id: str, lease_seconds: float, now: float
    ) -> tuple[Recording, bool]:
        token = uuid.uuid4().hex
        answer = await self._call("begin", _Keys(record_id), token, int(lease_seconds * 1000), now)
        if answer[0] == -2:
            raise NotStarted(f"recording {record_id} was never started", record_id=record_id)
        if answer[0] == -3:
            raise Busy(f"recording {record_id} is being finalized elsewhere", record_id=record_id)
        if answer[0] == 1:
            self._leases[record_id] = token
        rec = await self.get(record_id)
        assert rec is not None
        return rec, answer[0] == 1

    async def seal(
        self,
        record_id: str,
        stored: list[int],
        abandoned: list[int],
        adopted: dict[int, int] | None = None,
    ) -> None:
        await self._call(
            "seal", _Keys(record_id), ",".join(map(str, stored)), ",".join(map(str, abandoned)),
            ",".join(f"{i}:{size}" for i, size in (adopted or {}).items()),
        )  # fmt: skip

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
        token = self._leases.pop(record_id, "")
        answer = await self._call(
            "finish", _Keys(record_id), token, str(state), now,
            "" if duration_ms is None else duration_ms,
            "" if final_bytes is None else final_bytes,
            error or "", "\n".join(warnings), final_name or "", int(poster),
        )  # fmt: skip
        self._refuse(record_id, answer)
        rec = await self.get(record_id)
        if rec is None:
            raise NotStarted(f"recording {record_id} vanished", record_id=record_id)
        return rec

    async def set_poster(self, record_id: str) -> None:
        # Only on an existing hash: a purged recording must not come back as a stub.
        await self._derive("poster", [_Keys(record_id).recording])

    async def set_media(
        self, record_id: str, container: str, video_codec: str | None, audio_codec: str | None
    ) -> None:
        await self._call("media", _Keys(record_id), container, video_codec or "", audio_codec or "")

    async def _derive(self, script: str, keys: list[str], *args: Any) -> Any:
        run = self._scripts[script]
        return await self._do(lambda: run(keys=keys, args=list(args)))

    async def enqueue_derivative(self, record_id: str, kind: str, now: float) -> None:
        keys = [_Keys(record_id).recording, DERIVE_QUEUE, DERIVE_ATTEMPTS]
        await self._derive("enqueue_derivative", keys, record_id, kind, now)

    async def claim_derivative(
        self, now: float, lease: float, record_id: str | None = None
    ) -> tuple[str, str, int] | None:
        keys = [DERIVE_QUEUE, DERIVE_ATTEMPTS]
        found = await self._derive("claim_derivative", keys, now, lease, record_id or "")
        if not found:
            return None
        job, attempt = found
        claimed_id, _, kind = job.partition("\t")
        return claimed_id, kind, int(attempt)

    async def renew_derivative(self, record_id: str, kind: str, until: float) -> None:
        job = f"{record_id}\t{kind}"
        await self._do(lambda: self._redis.zadd(DERIVE_QUEUE, {job: until}, xx=True))

    async def finish_derivative(
        self,
        record_id: str,
        kind: str,
        status: DerivativeState,
        *,
        error: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        keys = [_Keys(record_id).recording, DERIVE_QUEUE, DERIVE_ATTEMPTS]
        retry = "" if retry_at is None else retry_at
        await self._derive(
            "finish_derivative", keys, record_id, kind, str(status), error or "", retry
        )

    async def delete(self, record_id: str) -> None:
        keys = _Keys(record_id)
        jobs = [f"{record_id}\t{kind}" for kind in DERIVATIVES]
        await self._pipeline(
            lambda pipe: (
                pipe.delete(keys.recording, keys.counter, keys.chunks, keys.seqs, keys.lease)
                .zrem(ALL_IDS, record_id)
                .zrem(DERIVE_QUEUE, *jobs)
                .hdel(DERIVE_ATTEMPTS, *jobs)
            ),
            transaction=True,
        )

    async def ping(self) -> None:
        started = time.monotonic()
        await self._do(lambda: self._redis.ping())
        if time.monotonic() - started > 5:
            raise StorageError("state store (redis) answers too slowly")

    async def close(self) -> None:
        await self._redis.aclose()
        await self._redis.connection_pool.disconnect()
