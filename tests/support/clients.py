"""A python-socketio client for protocol tests, and `record`, the spec's flow in one call.

Not simulate's `Recorder`: that one streams a pre-cut media list into a load report and never
shows the test an event; protocol tests need every reply, bad payloads and raw emits."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import socketio

EVENT_TIMEOUT = 20.0
NAMESPACE = "/recording"


class Client:
    """A python-socketio AsyncClient on `/recording` that queues every event it receives."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.disconnected = asyncio.Event()
        for name in ("started", "chunkSaved", "finished", "exception"):
            self.sio.on(name, self._collector(name), namespace=NAMESPACE)
        self.sio.on("disconnect", self._on_disconnect, namespace=NAMESPACE)

    def _collector(self, name: str) -> Callable[[Any], Any]:
        async def collect(data: Any) -> None:
            self.events[name].put_nowait(data)

        return collect

    async def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()

    async def connect(self) -> Client:
        """Connect over websocket; returns self."""
        await self.sio.connect(
            self.url, namespaces=[NAMESPACE], transports=["websocket"], wait_timeout=10
        )
        return self

    async def call(self, event: str, data: Any = None, *, timeout: float = EVENT_TIMEOUT) -> Any:
        """Emit and wait for the acknowledgement."""
        args = () if data is None else (data,)
        return await self.sio.call(event, *args, namespace=NAMESPACE, timeout=timeout)

    async def emit(self, event: str, *args: Any, callback: Any = None) -> None:
        """Emit without waiting; answers arrive as events (or through `callback`)."""
        await self.sio.emit(event, args[0] if len(args) == 1 else args or None,
                            namespace=NAMESPACE, callback=callback)  # fmt: skip

    async def next(self, name: str, timeout: float = EVENT_TIMEOUT) -> Any:
        """The next `name` event received."""
        return await asyncio.wait_for(self.events[name].get(), timeout)

    @property
    def connected(self) -> bool:
        """Connected, and no disconnect seen."""
        return self.sio.connected and not self.disconnected.is_set()

    async def close(self) -> None:
        """Disconnect if connected."""
        if self.sio.connected:
            await self.sio.disconnect()


async def record(
    client: Client, record_id: str, pieces: list[bytes], **stop: Any
) -> dict[str, Any]:
    """start -> every chunk acked in turn -> stop; return the `finished` answer."""
    started = await client.call("start", {"recordId": record_id})
    assert started == {"recordId": record_id, "nextIndex": 0}
    for i, piece in enumerate(pieces):
        ack = await client.call("chunk", {"recordId": record_id, "chunk": piece})
        assert ack == {"recordId": record_id, "index": i}
    return await client.call("stop", {"recordId": record_id, **stop})
