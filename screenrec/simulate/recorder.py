"""One simulated recorder: a Socket.IO connection that starts, streams and stops a recording.

Answers come as acknowledgements (screenrec) or, with `answers="event"`, as the spec's reply
events only (any server written against the spec). Either way each chunk costs one dict entry
and one callback: no task, no copy of its bytes.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiohttp
import socketio

from screenrec.simulate.options import NAMESPACE, SimulateOptions
from screenrec.simulate.report import Report


class _Disconnected(Exception):
    """The connection dropped while an answer was awaited."""


@dataclass
class RunState:
    """What every recorder of one run shares: options, the pre-cut pieces, the report."""

    options: SimulateOptions
    pieces: list[bytes]
    report: Report
    http: aiohttp.ClientSession
    run_id: str
    finished: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class Recorder:
    """One connection streaming one recording: start, chunks, stop."""

    def __init__(self, run: RunState, number: int) -> None:
        self.run, self.o, self.report = run, run.options, run.report
        self.record_id = f"{self.o.id_prefix}-{run.run_id}-{number}"
        self.rng = random.Random(f"{self.o.seed}-{number}")
        self.sio = socketio.AsyncClient(reconnection=False, http_session=run.http)
        self.pending: dict[int, float] = {}  # seq -> send time, in send order
        self.waiters: dict[str, asyncio.Future[Any]] = {}
        self.slots = asyncio.Semaphore(self.o.window)
        self.drained = asyncio.Event()
        self.accepted = self.rejected = self.base = 0
        self.broken = self.closing = False
        self.sio.on("disconnect", self._on_disconnect, namespace=NAMESPACE)
        if self.o.answers == "event":
            for event, request in (("started", "start"), ("finished", "stop")):
                self.sio.on(event, partial(self._resolve, request), namespace=NAMESPACE)
            self.sio.on("chunkSaved", self._on_chunk_saved, namespace=NAMESPACE)
            self.sio.on("exception", self._on_exception, namespace=NAMESPACE)

    async def record(self) -> None:
        """The whole life of one recorder; every outcome lands in the report."""
        if self.o.realtime:  # spread clients over one interval so they do not fire in lockstep
            await asyncio.sleep(self.rng.uniform(0, self.o.interval))
        try:
            await self.sio.connect(
                self.o.server_url, namespaces=[NAMESPACE], transports=["websocket"],
                wait_timeout=min(self.o.timeout, 30),
                auth={"token": self.o.token} if self.o.token else None,
            )  # fmt: skip
        except socketio.exceptions.ConnectionError as exc:
            self.report.fail(f"{self.record_id}: cannot connect: {exc}", "connect")
            return
        self.report.connected += 1
        try:
            if await self._start():
                await (self._stream_realtime() if self.o.realtime else self._stream_window())
                if not self.broken:
                    await self._stop()
        except socketio.exceptions.SocketIOError as exc:  # emit after a drop not yet seen
            if not self.broken:
                self.report.fail(f"{self.record_id}: {exc}", "disconnect")
        finally:
            self.closing = True
            await self.sio.disconnect()

    async def _ask(self, event: str, payload: dict[str, Any]) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.waiters[event] = future
        callback = partial(self._resolve, event) if self.o.answers == "ack" else None
        await self.sio.emit(event, payload, namespace=NAMESPACE, callback=callback)
        async with asyncio.timeout(self.o.timeout):
            return await future

    def _resolve(self, event: str, answer: Any = None, *_: Any) -> None:
        future = self.waiters.pop(event, None)
        if future is not None and not future.done():
            future.set_result(answer)

    def _error(self, what: str, answer: Any) -> bool:
        """Count an `{error: {code}}` answer; True if it was one."""
        if not (isinstance(answer, dict) and isinstance(answer.get("error"), dict)):
            return False
        code = str(answer["error"].get("code", "unknown"))
        self.report.errors_by_code[code] += 1
        self.report.fail(f"{self.record_id}: {what}: {code}: {answer['error'].get('message')}")
        return True

    async def _start(self) -> bool:
        try:
            answer = await self._ask("start", {"recordId": self.record_id})
        except (TimeoutError, _Disconnected) as exc:
            self._lost("start", exc)
            return False
        if self._error("start", answer):
            return False
        self.base = answer.get("nextIndex", 0) if isinstance(answer, dict) else 0
        return True

    async def _send(self, seq: int, piece: bytes) -> None:
        report, now = self.report, time.perf_counter()
        self.pending[seq] = now
        report.chunks_offered += 1
        report.bytes_offered += len(piece)
        if report.first_offer is None:
            report.first_offer = now
        report.last_offer = now
        callback = partial(self._settle, seq) if self.o.answers == "ack" else None
        payload = {"recordId": self.record_id, "chunk": piece, "seq": seq}
        await self.sio.emit("chunk", payload, namespace=NAMESPACE, callback=callback)

    def _settle(self, seq: int, answer: Any = None, *_: Any) -> None:
        sent = self.pending.pop(seq, None)
        if sent is None:
            return  # answered after it was given up on
        if self._error(f"chunk {seq}", answer):
            self.rejected += 1
        else:
            now = time.perf_counter()
            self.accepted += 1
            report = self.report
            report.chunks_acked += 1
            report.bytes_acked += len(self.run.pieces[seq])
            report.ack_latencies.append(now - sent)
            report.last_ack = now
        self.slots.release()
        if not self.pending:
            self.drained.set()

    async def _stream_window(self) -> None:
        for seq, piece in enumerate(self.run.pieces):
            try:
                async with asyncio.timeout(self.o.timeout):
                    await self.slots.acquire()
            except TimeoutError:
                self._time_out()
                return
            if self.broken:
                return
            await self._send(seq, piece)
        await self._drain()

    async def _stream_realtime(self) -> None:
        begin = time.perf_counter()
        for seq, piece in enumerate(self.run.pieces):
            due = begin + seq * self.o.interval
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            if self.broken:
                return
            self.report.send_lags.append(max(0.0, time.perf_counter() - due))
            await self._send(seq, piece)
        await self._drain()

    async def _drain(self) -> None:
        self.drained.clear()
        if not self.pending:
            return
        try:
            async with asyncio.timeout(self.o.timeout):
                await self.drained.wait()
        except TimeoutError:
            self._time_out()

    async def _stop(self) -> None:
        began = time.perf_counter()
        try:
            answer = await self._ask("stop", {"recordId": self.record_id, "chunks": self.accepted})
        except (TimeoutError, _Disconnected) as exc:
            self._lost("stop", exc)
            return
        self.report.stop_latencies.append(time.perf_counter() - began)
        if self._error("stop", answer):
            self.report.failed += 1
        elif (status := answer.get("status", "ready")) != "ready":
            self.report.failed += 1
            self.report.fail(f"{self.record_id}: finished as {status}: {answer.get('error')}")
        else:
            self.report.ready += 1
            self.run.finished.append((self.record_id, answer))

    def _lost(self, what: str, exc: BaseException) -> None:
        if isinstance(exc, TimeoutError):  # a dropped connection was counted when it dropped
            acks = what == "start" and self.o.answers == "ack"
            hint = "; a server without acks? try --answers event" if acks else ""
            self.report.fail(f"{self.record_id}: no answer to {what} (timeout){hint}", "timeout")
        self.broken = True

    def _time_out(self) -> None:
        """Count every unanswered chunk as a timeout and stop this recorder."""
        if self.pending:
            self.report.fail(f"{self.record_id}: {len(self.pending)} chunks unanswered",
                             "timeout", len(self.pending))  # fmt: skip
        self._abandon()

    def _abandon(self) -> None:
        self.pending.clear()
        self.broken = True
        self.drained.set()
        self.slots.release()

    async def _on_disconnect(self, reason: Any = None) -> None:
        if self.closing:
            return
        lost = len(self.pending)
        self.report.fail(f"{self.record_id}: disconnected ({reason}), {lost} chunks unanswered",
                         "disconnect")  # fmt: skip
        self._abandon()
        for future in self.waiters.values():
            if not future.done():
                future.set_exception(_Disconnected(str(reason)))

    async def _on_chunk_saved(self, data: Any) -> None:
        seq = data.get("seq") if isinstance(data, dict) else None
        if seq is None and isinstance(data, dict):
            seq = data.get("index", 0) - self.base + self.rejected
        self._settle(seq)

    async def _on_exception(self, data: Any) -> None:
        if not isinstance(data, dict):
            return
        error = {"error": {"code": data.get("code", "exception"), "message": data.get("message")}}
        if data.get("event") == "chunk" and self.pending:
            self._settle(next(iter(self.pending)), error)
        else:
            self._resolve(str(data.get("event")), error)
