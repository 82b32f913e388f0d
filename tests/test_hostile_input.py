"""Property-based hostile input: arbitrary payloads at every event and arbitrary keys at every
route. The server answers each with a documented error (or a valid answer), stays up, and
writes nothing outside its data dir. Over 10,000 cases per run."""

from __future__ import annotations

import asyncio
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screenrec.models import RECORD_ID_RE
from tests.support.clients import Client
from tests.support.servers import Server, start_server

CODES = {
    "invalid_payload", "invalid_record_id", "invalid_key", "not_started", "already_finished",
    "chunk_too_large", "storage_error", "finalize_failed", "not_found", "limit_exceeded",
    "unsupported_media",
}  # fmt: skip
EVENTS = {"start": ("recordId", "nextIndex"), "chunk": ("recordId", "index"), "stop": ("status",)}
HOSTILE_IDS = ["..", "../etc", "a/b", "a\\b", "a\x00b", "%2e%2e", "/abs", "é", "a b", "x" * 129]


def hypothesis_settings(examples: int) -> settings:
    """Reproducible in CI (derandomized, no example database), no per-example deadline."""
    return settings(
        max_examples=examples, deadline=None, derandomize=True, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )  # fmt: skip


class LoopThread:
    """An event loop in a thread, so synchronous hypothesis tests can drive async clients."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, LoopThread, Any]]:
    data_dir = tmp_path_factory.mktemp("hostile") / "data"
    server = start_server(
        data_dir, "--max-chunk-bytes", "64KiB", "--stale-after", "0",
        "--max-recordings-per-connection", "1000000",
    )  # fmt: skip
    loop = LoopThread()

    async def make() -> tuple[Client, aiohttp.ClientSession]:
        return await Client(server.url).connect(), aiohttp.ClientSession()

    client, http = loop.run(make())
    yield server, loop, (client, http)
    loop.run(client.close())
    loop.run(http.close())
    loop.close()
    assert server.stop() == 0
    assert server.pump is not None
    server.pump.join(10)
    assert server.proc.stdout is not None
    server.proc.stdout.close()
    check_data_dir(data_dir)


def check_data_dir(data_dir: Path) -> None:
    """Only the state file and recordings named by valid ids, holding only media files."""
    outside = data_dir.parent
    assert {p.name for p in outside.iterdir()} == {"data"}
    names = {p.name for p in data_dir.iterdir()}
    assert names <= {"state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm", "recordings"}
    recordings = data_dir / "recordings"
    for entry in recordings.iterdir() if recordings.exists() else []:
        if entry.name == ".scratch":
            assert not list(entry.iterdir())
            continue
        assert RECORD_ID_RE.fullmatch(entry.name) and entry.is_dir(), entry
        for item in entry.iterdir():
            assert item.name == "final.webm" or item.name.startswith("chunk-"), item


json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=50),
    st.binary(max_size=300),
)  # fmt: skip
junk = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
record_ids = st.one_of(
    st.sampled_from(HOSTILE_IDS),
    st.text(max_size=140),
    st.from_regex(RECORD_ID_RE, fullmatch=True),
    junk,
)
payloads = st.one_of(
    junk,
    st.fixed_dictionaries(
        {"recordId": record_ids},
        optional={
            "chunk": st.one_of(st.binary(max_size=70_000), junk),
            "seq": st.one_of(st.integers(min_value=-(2**64), max_value=2**64), junk),
            "chunks": st.one_of(st.integers(min_value=-5, max_value=50), junk),
        },
    ),
)


def check_answer(event: str, answer: Any) -> None:
    assert isinstance(answer, dict), answer
    if "error" in answer:
        assert answer["error"]["code"] in CODES, answer
        assert isinstance(answer["error"]["message"], str) and answer["error"]["message"]
    else:
        assert all(key in answer for key in EVENTS[event]), answer


@pytest.mark.timeout(600)
@hypothesis_settings(8000)
@given(event=st.sampled_from(sorted(EVENTS)), payload=payloads)
def test_arbitrary_payloads_get_documented_answers(target, event: str, payload: Any) -> None:
    server, loop, (client, _) = target
    answer = loop.run(client.call(event, payload))
    check_answer(event, answer)
    assert client.connected and server.proc.poll() is None


keys = st.one_of(
    st.text(max_size=80),
    st.builds(lambda rid, name: f"{rid}/{name}", record_ids.filter(lambda v: isinstance(v, str)),
              st.sampled_from(["final.webm", "chunk-0.webm", "chunk-01.webm", "../x", ""])),
)  # fmt: skip


@pytest.mark.timeout(600)
@hypothesis_settings(3000)
@given(key=keys, route=st.sampled_from(["download", "status"]))
def test_arbitrary_keys_and_ids_at_rest_routes(target, key: str, route: str) -> None:
    server, loop, (_, http) = target
    quoted = urllib.parse.quote(key, safe="")
    path = (
        f"/recordings/download/{quoted}" if route == "download" else f"/recordings/{quoted}/status"
    )

    async def get() -> tuple[int, Any]:
        url = aiohttp.client.URL(server.url + path, encoded=True)
        async with http.get(url) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body

    status, body = loop.run(get())
    assert status in (200, 400, 404), (key, status)
    if status != 200:
        assert body is not None and body["error"]["code"] in CODES, (key, body)
    assert server.proc.poll() is None
