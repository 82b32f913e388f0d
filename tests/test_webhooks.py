"""Webhooks end to end: a real receiver in this process, a real `screenrec serve` posting to it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.support.clients import EVENT_TIMEOUT, record
from tests.support.media import cut
from tests.support.servers import Server

SECRET = "s3cret"


@dataclass(frozen=True)
class Hit:
    """One request the receiver got, and the status it answered (None: never answered)."""

    headers: dict[str, str]
    body: bytes
    status: int | None

    @property
    def doc(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def record_id(self) -> str:
        return self.doc["recording"]["recordId"]


class Receiver:
    """An aiohttp app on 127.0.0.1 that records every request. It answers 500 to the first
    `fail_first` requests and 200 afterwards, or, with `hang`, never answers at all."""

    def __init__(self, fail_first: int = 0, hang: bool = False) -> None:
        self.fail_first = fail_first
        self.hang = hang
        self.hits: list[Hit] = []
        self.changed = asyncio.Condition()
        self.release = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = None if self.hang else 500 if len(self.hits) < self.fail_first else 200
        async with self.changed:
            self.hits.append(Hit(dict(request.headers), body, status))
            self.changed.notify_all()
        if status is None:
            await self.release.wait()  # set only at teardown
            status = 503
        return web.Response(status=status)

    async def wait_for(self, check: Callable[[list[Hit]], bool]) -> list[Hit]:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: check(self.hits)), EVENT_TIMEOUT)
        return list(self.hits)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/hook"
        return self

    async def close(self) -> None:
        self.release.set()
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Any]]:
    """Start receivers; every one is released and closed at teardown."""
    made: list[Receiver] = []

    async def start(**options: Any) -> Receiver:
        receiver = await Receiver(**options).start()
        made.append(receiver)
        return receiver

    yield start
    for receiver in made:
        await receiver.close()


def webhook_env(*urls: str) -> dict[str, str]:
    return {"SCREENREC_WEBHOOK_URLS": ",".join(urls), "SCREENREC_WEBHOOK_SECRET": SECRET}


def of(record_id: str) -> Callable[[list[Hit]], list[Hit]]:
    return lambda hits: [h for h in hits if h.record_id == record_id]


def accepted(record_id: str) -> Callable[[list[Hit]], bool]:
    return lambda hits: any(h.status == 200 for h in of(record_id)(hits))


def dead_url() -> str:
    """A URL on a local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


async def test_ready_is_retried_once_then_accepted_once(
    server_factory: Callable[..., Server],
    client_factory: Callable[[str], Any],
    receivers: Callable[..., Any],
    webm: bytes,
) -> None:
    receiver = await receivers(fail_first=1)
    server = server_factory(env=webhook_env(receiver.url))
    client = await client_factory(server.url)
    finished = await record(client, "hook-a", cut(webm, 4))
    assert finished["status"] == "ready"

    hits = of("hook-a")(await receiver.wait_for(accepted("hook-a")))
    assert [h.status for h in hits] == [500, 200]
    first, second = hits
    assert first.body == second.body
    for hit in hits:
        expected = "sha256=" + hmac.new(SECRET.encode(), hit.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(hit.headers["X-Screenrec-Signature"], expected)
        assert hit.headers["Idempotency-Key"] == first.headers["Idempotency-Key"]
        assert hit.headers["X-Screenrec-Event"] == "recording.ready"
        assert hit.headers["Content-Type"] == "application/json"
        assert hit.headers["User-Agent"].startswith("screenrec/")
        assert hit.headers["X-Screenrec-Timestamp"].isdigit()
    doc = first.doc
    assert doc["event"] == "recording.ready"
    assert doc["id"] == first.headers["Idempotency-Key"]
    assert doc["recording"]["status"] == "ready"
    assert doc["recording"]["downloadUrl"] == "/recordings/download/hook-a%2Ffinal.webm"
    assert doc["recording"] == finished

    # Another recording's delivery is later in time: hook-a got nothing more meanwhile.
    await record(client, "hook-b", cut(webm, 2))
    hits = await receiver.wait_for(accepted("hook-b"))
    assert len(of("hook-a")(hits)) == 2
    assert of("hook-b")(hits)[0].headers["Idempotency-Key"] != first.headers["Idempotency-Key"]

    # Stop with the client still connected: the server hangs up on it (the shutdown path).
    assert await asyncio.to_thread(server.stop) == 0
    assert server.pump is not None
    server.pump.join(timeout=10)
    log = "".join(server.log)
    assert "WARNING" in log and "hook-a" in log and receiver.url in log and "HTTP 500" in log


async def test_failed_recording_is_announced(
    server_factory: Callable[..., Server],
    client_factory: Callable[[str], Any],
    receivers: Callable[..., Any],
) -> None:
    receiver = await receivers()
    server = server_factory(env=webhook_env(receiver.url))
    client = await client_factory(server.url)
    answer = await record(client, "hook-empty", [])
    assert "error" in answer

    (hit,) = of("hook-empty")(await receiver.wait_for(accepted("hook-empty")))
    assert hit.headers["X-Screenrec-Event"] == "recording.failed"
    assert hit.doc["event"] == "recording.failed"
    assert hit.doc["recording"]["status"] == "failed"
    assert hit.doc["recording"]["error"]
    assert "downloadUrl" not in hit.doc["recording"]


async def test_stuck_receivers_never_delay_finished(
    server_factory: Callable[..., Server],
    client_factory: Callable[[str], Any],
    receivers: Callable[..., Any],
    webm: bytes,
) -> None:
    stuck = await receivers(hang=True)
    server = server_factory(env=webhook_env(stuck.url, dead_url()))
    client = await client_factory(server.url)
    # The hanging receiver holds each attempt for the client's 10 s timeout, the dead one
    # refuses and backs off; `finished` must still come back as soon as the final is made.
    finished = await asyncio.wait_for(record(client, "hook-slow", cut(webm, 2)), EVENT_TIMEOUT)
    assert finished["status"] == "ready"
    (hit,) = await stuck.wait_for(lambda hits: len(hits) >= 1)
    assert hit.record_id == "hook-slow"
    assert hit.status is None and not stuck.release.is_set()  # still unanswered

    # Shutdown waits a bounded while for deliveries in flight, then gives them up.
    assert await asyncio.to_thread(server.stop) == 0
    assert server.pump is not None
    server.pump.join(timeout=10)
    log = "".join(server.log)
    assert "webhook deliveries unfinished" in log, log
    assert "ConnectionRefused" in log or "ClientConnectorError" in log, log


def test_webhook_urls_need_a_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREENREC_")}
    env["SCREENREC_WEBHOOK_URLS"] = "http://127.0.0.1:9/x"
    proc = subprocess.run(
        [sys.executable, "-m", "screenrec", "serve", "--port", "0",
         "--data-dir", str(tmp_path / "data")],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "secret" in proc.stderr
    assert "listening" not in proc.stdout


async def test_a_derived_copy_is_announced_once_it_is_made(
    server_factory: Callable[..., Server],
    client_factory: Callable[[str], Any],
    receivers: Callable[..., Any],
    clip: bytes,
) -> None:
    receiver = await receivers()
    server = server_factory("--derive", "mp4", env=webhook_env(receiver.url))
    client = await client_factory(server.url)
    answer = await record(client, "hook-copy", cut(clip, 3))
    assert answer["derivatives"] == {"mp4": {"status": "pending"}}

    def derived(hits: list[Hit]) -> bool:
        return any(h.doc["event"] == "recording.derived" for h in of("hook-copy")(hits))

    hits = of("hook-copy")(await receiver.wait_for(derived))
    assert [h.doc["event"] for h in hits] == ["recording.ready", "recording.derived"]
    hit = hits[1]
    assert hit.headers["X-Screenrec-Event"] == "recording.derived"
    assert hit.doc["derivative"] == "mp4"
    assert hit.doc["recording"]["derivatives"]["mp4"]["status"] == "ready"
    assert hit.doc["id"] != hits[0].doc["id"]  # its own idempotency key
