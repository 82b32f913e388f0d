"""The aiohttp application: REST routes and the Socket.IO `/recording` namespace on one port."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import suppress

import socketio
from aiohttp import web

from screenrec.config import Settings
from screenrec.links import Links
from screenrec.server import metrics, web_page, webhooks
from screenrec.server.recording_ns import RecordingNamespace
from screenrec.server.rest import (
    LINKS,
    SERVICE,
    auth_middleware,
    cors_middleware,
    errors_middleware,
    routes,
)
from screenrec.service import RecordingService

log = logging.getLogger("screenrec")
SIO = web.AppKey("sio", socketio.AsyncServer)


def create_app(settings: Settings) -> web.Application:
    """Build the app; the RecordingService opens on startup and closes on cleanup."""
    app = web.Application(
        middlewares=[cors_middleware(settings.cors_origins), errors_middleware, auth_middleware],
        client_max_size=1024 * 1024,
    )
    service = RecordingService.open(settings)
    links = Links(settings.tokens, settings.link_ttl)
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        transports=["websocket"],
        cors_allowed_origins="*" if "*" in settings.cors_origins else list(settings.cors_origins),
        max_http_buffer_size=settings.transport_limit,
        logger=False,
        engineio_logger=False,
    )
    meter = metrics.install(app, service)
    sio.register_namespace(RecordingNamespace(service, links, meter))
    sio.attach(app)
    app[SERVICE] = service
    app[LINKS] = links
    app[SIO] = sio
    app.add_routes(routes)
    if settings.web:
        web_page.install(app)
    webhooks.install(app, settings, service, links)
    app.cleanup_ctx.append(_service_lifetime)
    app.on_shutdown.append(_disconnect_clients)
    return app


async def _service_lifetime(app: web.Application) -> AsyncIterator[None]:
    service = app[SERVICE]
    health = await service.health()  # fail at start-up, not on the first event
    if not health.ok:
        raise health.problems[0]
    background = [
        asyncio.create_task(service.housekeep_forever(), name="housekeeping"),
        asyncio.create_task(service.derive_forever(), name="derivatives"),
    ]
    yield
    for task in background:
        task.cancel()
    for task in background:
        with suppress(asyncio.CancelledError):
            await task
    await service.close()


async def _disconnect_clients(app: web.Application) -> None:
    # Without this an open websocket is an in-flight handler: aiohttp's shutdown waits for it
    # until its timeout (measured: 17.5 s to exit with shutdown_timeout 8, 5.2 s with this).
    sio = app[SIO]
    sockets = list(sio.eio.sockets.values())
    if sockets:  # engineio's disconnect-all fails on an empty set
        # Bounded: a client already hanging up leaves engineio waiting on a queue nobody reads.
        with suppress(TimeoutError):
            await asyncio.wait_for(sio.eio.disconnect(), timeout=2.0)
    for socket in sockets:
        # Wake engineio's websocket writer so it closes the websocket now instead of waiting
        # for each client to hang up (python-engineio's own end-of-connection signal).
        socket.queue.put_nowait(None)
    await sio.shutdown()
    await app[SERVICE].drain()


M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameters
M_ARENA_MAX = -8
LARGE_BUFFER = 1024 * 1024


def tune_malloc() -> bool:
    """Keep the memory of finished chunks reusable (glibc only; False elsewhere).

    One arena: glibc gives threads arenas of their own, and chunk-sized buffers that a worker
    thread allocated (finalize reads stored chunks in batches) stay in its arena, unusable by
    the event loop's allocations. A fixed 1 MiB mmap threshold: glibc raises its threshold
    the first time a large block is freed, up to 32 MiB, after which multi-megabyte buffers
    (read batches, large chunks) stay in the heap at their peak; fixed, they are mapped and
    returned when freed. Chunk-sized buffers (0.1-1 MB) stay in the heap, where reusing them
    costs no page faults: a 128 KiB threshold cost a third of one client's throughput."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, 1)) and bool(mallopt(M_MMAP_THRESHOLD, LARGE_BUFFER))


def _log_exposure(settings: Settings, url: str) -> None:
    """Say once at start-up who can use the server."""
    if settings.tokens:
        log.info("access control on: %d token(s); downloads use signed links", len(settings.tokens))
        return
    local = settings.host in ("127.0.0.1", "::1", "localhost")
    log.warning(
        "open to everyone (no --token): anyone who can reach %s can record, list, download "
        "and delete%s",
        url,
        "" if local else " (use --host 127.0.0.1 to keep it on this machine)",
    )


async def run(settings: Settings, announce: Callable[[str], None]) -> None:
    """Serve until SIGINT/SIGTERM, then disconnect clients, finish writes and return."""
    tune_malloc()  # before any thread allocates
    app = create_app(settings)
    # By the time aiohttp waits on handlers, on_shutdown has closed every websocket and
    # finished every write; the timeout only bounds a download still streaming.
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        # Everything alive now lives for the whole process: stop rescanning it, and collect the
        # young generation less often. At 500 clients this cut ack p99 from 286 to 161 ms in
        # one bench run (full gen-2 passes over ~140k startup objects took 25-73 ms).
        gc.freeze()
        gc.set_threshold(10_000, 20, 100)
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{port}"
        announce(url)
        _log_exposure(settings, url)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        await stopping.wait()
        log.info("shutting down: disconnecting clients, finishing writes")
    finally:
        await runner.cleanup()
