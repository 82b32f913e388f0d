"""The Socket.IO namespace `/recording`: parse payloads, call the service, answer twice.

Every answer is emitted as the spec's event (`started`, `chunkSaved`, `finished`) and returned
as the acknowledgement. Errors become an `exception` event and an `{error: {...}}` ack here,
and only here; the connection always stays up. Both paths report to the app's `Metrics`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import socketio

from screenrec.errors import (
    InvalidPayload,
    LimitExceeded,
    ScreenrecError,
    StorageError,
    Unauthorized,
)
from screenrec.links import Links
from screenrec.models import RECORD_ID_RE
from screenrec.server.metrics import Metrics
from screenrec.service import RecordingService
from screenrec.wire import status_document

log = logging.getLogger("screenrec.socketio")
NAMESPACE = "/recording"
MAX_LIVE_BACKLOG = 64  # queued packets (a chunk is one or two): past this a watcher is let go

Handler = Callable[["RecordingNamespace", str, dict[str, Any]], Awaitable[dict[str, Any]]]


def _payload(args: tuple[Any, ...]) -> dict[str, Any]:
    if not args or not isinstance(args[0], dict):
        raise InvalidPayload("payload must be an object like {recordId: '...'}")
    return args[0]


def _optional_count(payload: dict[str, Any], key: str) -> int | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidPayload(f"{key} must be a non-negative integer")
    return value


def _record_id_of(args: tuple[Any, ...]) -> str | None:
    """The recordId to echo in an error, only if it is a short string (never echo junk)."""
    if args and isinstance(args[0], dict):
        value = args[0].get("recordId")
        if isinstance(value, str) and len(value) <= 128:
            return value
    return None


def _answers(event: str, reply: str) -> Callable[[Handler], Callable[..., Awaitable[Any]]]:
    """Wrap a handler: emit `reply` and ack with its answer, or emit `exception` and ack the
    error. The one place Socket.IO turns errors into wire messages."""

    def wrap(handler: Handler) -> Callable[..., Awaitable[Any]]:
        async def on_event(self: RecordingNamespace, sid: str, *args: Any) -> dict[str, Any]:
            began = time.perf_counter()
            try:
                payload = _payload(args)
                answer = await handler(self, sid, payload)
            except ScreenrecError as exc:
                return await self._fail(sid, event, args, exc)
            except Exception:
                log.exception("%s from %s failed", event, sid)
                return await self._fail(
                    sid, event, args, ScreenrecError("internal error; see the server log")
                )
            await self.emit(reply, answer, to=sid)
            self.metrics.answered(event, payload, time.perf_counter() - began)
            return answer

        on_event.__name__ = f"on_{event}"
        return on_event

    return wrap


def _refuse(exc: ScreenrecError) -> None:
    """Refuse a connection: the client's `connect_error` gets `err.message` ("code: message")
    and `err.data` = `{code, message}`, the same pair as every other error."""
    raise socketio.exceptions.ConnectionRefusedError(f"{exc.code}: {exc.message}", exc.to_dict())


class RecordingNamespace(socketio.AsyncNamespace):
    """`start`/`chunk`/`stop` over one RecordingService."""

    def __init__(
        self, service: RecordingService, links: Links, metrics: Metrics | None = None
    ) -> None:
        super().__init__(NAMESPACE)
        self.service = service
        self.links = links
        self.metrics = metrics or Metrics()
        self._recordings: dict[str, set[str]] = {}  # sid -> recordIds it started or fed
        self._watching: dict[str, dict[str, asyncio.Task[None]]] = {}  # sid -> live views

    async def _fail(
        self, sid: str, event: str, args: tuple[Any, ...], exc: ScreenrecError
    ) -> dict[str, Any]:
        record_id = exc.record_id or _record_id_of(args)
        # A client's mistake is routine; a backend that failed is the operator's business.
        level = logging.WARNING if isinstance(exc, StorageError) else logging.INFO
        if type(exc) is ScreenrecError:
            level = logging.ERROR
        log.log(level, "%s %s rejected: %s (%s)", event, record_id or "-", exc.code, exc.message)
        self.metrics.failed(event, exc.code)
        await self.emit(
            "exception",
            {"status": "error", "event": event, "recordId": record_id, **exc.to_dict()},
            to=sid,
        )
        return {"error": exc.to_dict()}

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        limit = self.service.settings.max_connections
        if self.links.enabled and not self.links.check_token(token):
            # Logged without what was presented.
            log.warning("refused a connection from %s: no valid token", environ.get("REMOTE_ADDR"))
            _refuse(Unauthorized("connect with auth: {token: '...'}"))
        if len(self._recordings) >= limit:
            log.warning("refused a connection: %d connections is the limit", limit)
            _refuse(LimitExceeded(f"this server takes {limit} connections at most"))
        self._recordings[sid] = set()
        log.debug("connect %s from %s", sid, environ.get("REMOTE_ADDR"))
        self.metrics.connected(+1)  # last: a refused connect never gets a disconnect

    def _claim(self, sid: str, record_id: object) -> None:
        """Count a recording against this connection's limit (checked before any work)."""
        mine = self._recordings.setdefault(sid, set())
        if not isinstance(record_id, str) or not RECORD_ID_RE.fullmatch(record_id):
            return  # the service refuses it with the precise reason
        if record_id in mine:
            return
        limit = self.service.settings.max_recordings_per_connection
        if len(mine) >= limit:
            raise LimitExceeded(
                f"one connection may feed {limit} recordings at most; open another connection",
                record_id=record_id,
            )
        mine.add(record_id)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self._recordings.pop(sid, None)
        for task in self._watching.pop(sid, {}).values():
            task.cancel()
        # Recordings stay open: the client may resume them, here or on another instance.
        log.debug("disconnect %s (%s)", sid, reason)
        self.metrics.connected(-1)

    @_answers("watch", "watching")
    async def on_watch(self, sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The live view over Socket.IO: `live {recordId, data}` events carry the same bytes
        as `GET /recordings/{recordId}/live`, then `live {recordId, end: true}`."""
        record_id = payload.get("recordId")
        blocks = self.service.watch(record_id)  # type: ignore[arg-type]
        first = await anext(blocks)  # refusals (not found, finished, not WebM) answer here
        mine = self._watching.setdefault(sid, {})
        if (earlier := mine.pop(record_id, None)) is not None:  # type: ignore[arg-type]
            earlier.cancel()
        task = asyncio.create_task(self._relay(sid, record_id, first, blocks))  # type: ignore[arg-type]
        mine[record_id] = task  # type: ignore[index]
        task.add_done_callback(lambda _: mine.pop(record_id, None))  # type: ignore[arg-type]
        return {"recordId": record_id}

    async def _relay(
        self, sid: str, record_id: str, first: bytes, blocks: AsyncIterator[bytes]
    ) -> None:
        """Emit the live view's bytes to one client; let it go when it stops reading."""
        reason = "ended"
        try:
            await self.emit("live", {"recordId": record_id, "data": first}, to=sid)
            async for block in blocks:
                if self._backlog(sid) > MAX_LIVE_BACKLOG:
                    reason = "behind"  # it does not read: never queue without bound
                    break
                if block:
                    await self.emit("live", {"recordId": record_id, "data": block}, to=sid)
            await self.emit("live", {"recordId": record_id, "end": True, "reason": reason}, to=sid)
        finally:
            await blocks.aclose()  # type: ignore[attr-defined]

    def _backlog(self, sid: str) -> int:
        """Packets queued for the client and not yet sent."""
        eio_sid = self.server.manager.eio_sid_from_sid(sid, NAMESPACE)
        socket = self.server.eio.sockets.get(eio_sid) if eio_sid else None
        return socket.queue.qsize() if socket is not None else 0

    @_answers("start", "started")
    async def on_start(self, sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        self._claim(sid, payload.get("recordId"))
        rec = await self.service.start(payload.get("recordId"))  # type: ignore[arg-type]
        return {"recordId": rec.record_id, "nextIndex": rec.next_index}

    @_answers("chunk", "chunkSaved")
    async def on_chunk(self, sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        record_id = payload.get("recordId")
        chunk = payload.get("chunk")
        if not isinstance(chunk, bytes):
            kind = "missing" if chunk is None else type(chunk).__name__
            raise InvalidPayload(
                f"chunk must be binary (Blob, ArrayBuffer or Buffer), got {kind}",
                record_id=record_id if isinstance(record_id, str) else None,
            )
        seq = _optional_count(payload, "seq")
        self._claim(sid, record_id)
        index = await self.service.add_chunk(record_id, chunk, seq)  # type: ignore[arg-type]
        answer: dict[str, Any] = {"recordId": record_id, "index": index}
        if seq is not None:
            answer["seq"] = seq
        return answer

    @_answers("stop", "finished")
    async def on_stop(self, sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        expected = _optional_count(payload, "chunks")
        rec = await self.service.stop(payload.get("recordId"), expected)  # type: ignore[arg-type]
        return status_document(rec, self.links)
