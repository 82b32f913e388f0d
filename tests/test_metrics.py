"""`GET /metrics` against a real server: what a recording, an error and a disconnect change."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from screenrec.server.metrics import Metrics
from tests.support.clients import Client, record
from tests.support.media import cut
from tests.support.servers import Server

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
POLL_TIMEOUT = 10.0
POLL_INTERVAL = 0.02


async def scrape(http: aiohttp.ClientSession, server: Server) -> Samples:
    """Every sample of `/metrics`, keyed by sample name and labels."""
    async with http.get(f"{server.url}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == CONTENT_TYPE_LATEST
        text = await resp.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after[key] - before.get(key, 0.0)


async def test_a_recording_and_an_error_show_in_metrics(
    server: Server, client: Client, http: aiohttp.ClientSession, webm: bytes
) -> None:
    before = await scrape(http, server)
    assert value(before, "screenrec_connected_clients") == 1
    for state in ("recording", "processing", "ready", "failed"):
        assert value(before, "screenrec_recordings", state=state) == 0

    finished = await record(client, "metrics-1", cut(webm, 5))
    assert finished["status"] == "ready", finished
    ack = await client.call("chunk", {"recordId": "never-started", "chunk": b"x"})
    assert ack["error"]["code"] == "not_started"
    after = await scrape(http, server)

    assert grew(before, after, "screenrec_recordings_started_total") == 1
    assert grew(before, after, "screenrec_chunks_received_total") == 5
    assert grew(before, after, "screenrec_chunk_bytes_received_total") == len(webm)
    assert grew(before, after, "screenrec_chunk_ack_seconds_count") == 5
    assert grew(before, after, "screenrec_finalize_seconds_count", outcome="ready") == 1
    assert grew(before, after, "screenrec_finalize_seconds_count", outcome="failed") == 0
    assert grew(before, after, "screenrec_finalizes_total", path="index") == 1  # no ffmpeg
    assert grew(before, after, "screenrec_finalizes_total", path="ffmpeg") == 0
    assert grew(before, after, "screenrec_errors_total", event="chunk", code="not_started") == 1
    assert value(after, "screenrec_recordings", state="ready") == 1
    assert value(after, "screenrec_recordings", state="recording") == 0
    assert value(after, "screenrec_connected_clients") == 1


async def test_connected_clients_drops_when_a_client_leaves(
    server: Server, client: Client, http: aiohttp.ClientSession
) -> None:
    assert value(await scrape(http, server), "screenrec_connected_clients") == 1
    await client.close()
    deadline = time.monotonic() + POLL_TIMEOUT
    while (now := value(await scrape(http, server), "screenrec_connected_clients")) != 0:
        assert time.monotonic() < deadline, f"connected_clients still {now}"
        await asyncio.sleep(POLL_INTERVAL)  # poll interval, not synchronisation


def test_each_app_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()  # the default registry would reject the second
    first.connected(+1)
    assert b"screenrec_connected_clients 1.0" in generate_latest(first.registry)
    assert b"screenrec_connected_clients 0.0" in generate_latest(second.registry)
