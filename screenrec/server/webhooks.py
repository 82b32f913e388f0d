"""Webhooks: a signed JSON POST to each configured URL when a recording is ready or failed.

Each (recording, URL) delivery is its own background task, retried with backoff, so a slow
receiver never delays finalization or another receiver. `X-Screenrec-Signature` is HMAC-SHA256
of the exact body bytes; the body carries `createdAt` for freshness checks and an `id` (also
`Idempotency-Key`) that is the same on every retry, so receivers can drop duplicates.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from screenrec import __version__
from screenrec.config import Settings
from screenrec.links import Links
from screenrec.models import Recording
from screenrec.service import RecordingService
from screenrec.wire import iso, status_document

log = logging.getLogger("screenrec.webhooks")
MAX_ATTEMPTS = 8
FIRST_DELAY = 0.5
MAX_DELAY = 30.0
ATTEMPT_TIMEOUT = 10.0
SHUTDOWN_GRACE = 5.0
RETRYABLE_4XX = frozenset({408, 429})
KEY_NAMESPACE = uuid.UUID("6f1d2c3e-52a4-4d0b-9a57-3c1f0e8b7a21")


def idempotency_key(rec: Recording) -> str:
    """The same key for the same (recordId, state, updatedAt): retries and replays share it."""
    return str(uuid.uuid5(KEY_NAMESPACE, f"{rec.record_id}/{rec.state}/{rec.updated_at!r}"))


def sign(secret: bytes, body: bytes) -> str:
    """The `X-Screenrec-Signature` value: `sha256=` and the hex HMAC of the body bytes."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): 0.5, 1, 2, ... capped, jittered."""
    delay = min(MAX_DELAY, FIRST_DELAY * 2 ** (attempt - 1))
    return min(MAX_DELAY, delay * random.uniform(1.0, 1.1))


class WebhookSender:
    """Delivers finished-recording events to every URL; owns one ClientSession and its tasks."""

    def __init__(self, urls: tuple[str, ...], secret: str, links: Links | None = None) -> None:
        self.urls = urls
        self.secret = secret.encode()
        self.links = links
        self.session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def deliver(self, rec: Recording, seconds: float) -> None:
        """The service's finished listener: `recording.ready` or `recording.failed`."""
        self._post_event(f"recording.{rec.state}", idempotency_key(rec), rec, {})

    async def deliver_derived(self, rec: Recording, kind: str) -> None:
        """The service's derived listener: `recording.derived`, naming the derivative."""
        key = str(uuid.uuid5(KEY_NAMESPACE, f"{rec.record_id}/derived/{kind}"))
        self._post_event("recording.derived", key, rec, {"derivative": kind})

    def _post_event(self, event: str, key: str, rec: Recording, extra: dict[str, str]) -> None:
        """Start one delivery task per URL and return."""
        if self.session is None or self.session.closed:
            log.warning("webhook for %s not sent: the server is shutting down", rec.record_id)
            return
        now = time.time()
        doc = {
            "event": event,
            "id": key,
            "createdAt": iso(now),
            **extra,
            "recording": status_document(rec, self.links),
        }
        body = json.dumps(doc, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"screenrec/{__version__}",
            "X-Screenrec-Event": event,
            "X-Screenrec-Timestamp": str(int(now)),
            "Idempotency-Key": key,
            "X-Screenrec-Signature": sign(self.secret, body),
        }
        for url in self.urls:
            task = asyncio.create_task(self._send(rec.record_id, url, headers, body))
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    async def _send(self, record_id: str, url: str, headers: dict[str, str], body: bytes) -> None:
        """POST until the receiver answers 2xx, a final 4xx, or the attempts run out."""
        why = ""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            failure = await self._post(url, headers, body)
            if failure is None:
                log.info("webhook for %s delivered to %s", record_id, url)
                return
            retry, why = failure
            if not retry:
                log.error("webhook for %s refused by %s (%s); not retrying", record_id, url, why)
                return
            if attempt < MAX_ATTEMPTS:
                delay = backoff(attempt)
                log.warning(
                    "webhook for %s to %s failed (%s), attempt %d/%d; retrying in %.1fs",
                    record_id, url, why, attempt, MAX_ATTEMPTS, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)
        log.error(
            "webhook for %s to %s gave up after %d attempts (last: %s)",
            record_id, url, MAX_ATTEMPTS, why,
        )  # fmt: skip

    async def _post(
        self, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[bool, str] | None:
        """One attempt: None when accepted, else (worth retrying, why it failed)."""
        assert self.session is not None
        try:
            async with self.session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                if 200 <= resp.status < 300:
                    return None
                final = 400 <= resp.status < 500 and resp.status not in RETRYABLE_4XX
                return not final, f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            detail = f": {exc}" if str(exc) else ""
            return True, f"{type(exc).__name__}{detail}"

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("a webhook delivery failed unexpectedly: %r", exc)

    async def lifetime(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: one session while serving; at the end wait (bounded) for deliveries."""
        timeout = aiohttp.ClientTimeout(total=ATTEMPT_TIMEOUT)
        self.session = aiohttp.ClientSession(timeout=timeout)
        try:
            yield
        finally:
            await self._finish()

    async def _finish(self) -> None:
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_GRACE)
            if pending:
                log.warning("shutting down with %d webhook deliveries unfinished", len(pending))
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending)
        assert self.session is not None
        await self.session.close()


WEBHOOKS = web.AppKey("webhooks", WebhookSender)


def install(
    app: web.Application, settings: Settings, service: RecordingService, links: Links
) -> None:
    """With webhook URLs configured, send every ready or failed recording to each of them.
    Registered before the service's lifetime, so its cleanup runs after the service drained."""
    if not settings.webhook_urls:
        return
    assert settings.webhook_secret, "Settings.validate requires a secret with webhook URLs"
    sender = WebhookSender(settings.webhook_urls, settings.webhook_secret, links)
    app[WEBHOOKS] = sender
    service.on_finished(sender.deliver)
    service.on_derived(sender.deliver_derived)
    app.cleanup_ctx.append(sender.lifetime)
