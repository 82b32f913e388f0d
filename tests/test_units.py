"""Pure pieces: settings parsing and precedence, ids and keys, planning the final."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from screenrec.config import MIB, Settings, parse_duration, parse_size
from screenrec.errors import ConfigError, FinalizeFailed, InvalidKey, InvalidRecordId
from screenrec.models import (
    Chunk,
    ChunkState,
    Recording,
    RecordingState,
    parse_key,
    validate_record_id,
)
from screenrec.service import plan_final
from screenrec.storage import open_storage
from screenrec.storage.local_storage import WritePacer
from screenrec.store import open_store
from screenrec.wire import status_document


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("32MiB", 32 * MIB),
        ("500k", 500_000),
        ("1048576", MIB),
        ("2 GiB", 2 * 1024**3),
        ("1MB", 10**6),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [("15m", 900), ("90s", 90), ("30", 30), ("7d", 604800), ("250ms", 0.25)]
)
def test_parse_duration(text: str, expected: float) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["", "lots", "-5", "3 parsecs"])
def test_bad_sizes_and_durations_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_size(bad)
    with pytest.raises(ConfigError):
        parse_duration(bad)


def test_cli_beats_env_beats_default(tmp_path: Path) -> None:
    env = {
        "WEBSOCKET_PORT": "9001",
        "SCREENREC_MAX_CHUNK_BYTES": "1MiB",
        "SCREENREC_KEEP_CHUNKS": "yes",
    }
    settings = Settings.load({"port": 9002, "data_dir": tmp_path}, environ=env)
    assert settings.port == 9002  # option beats env
    assert settings.max_chunk_bytes == MIB  # env beats default
    assert settings.keep_chunks is True
    assert settings.host == "0.0.0.0" and settings.redis_url is None  # defaults
    assert Settings.load({}, environ={}).port == 8000


def test_transport_limit_is_above_the_chunk_limit() -> None:
    settings = Settings(max_chunk_bytes=32 * MIB)
    assert settings.transport_limit > settings.max_chunk_bytes
    assert Settings(max_chunk_bytes=1000).transport_limit > 1000 + MIB


async def test_spec_redis_variables_select_redis(tmp_path: Path) -> None:
    settings = Settings.load(
        {"data_dir": tmp_path}, environ={"REDIS_HOST": "cache", "REDIS_PORT": "6380"}
    )
    assert settings.redis_url == "redis://cache:6380/0"
    store = open_store(settings)
    assert store.name == "redis"
    await store.close()
    with pytest.raises(ConfigError, match="redis://"):
        open_store(Settings(redis_url="http://cache:6379"))
    assert open_storage(Settings(storage="s3://bucket/prefix")).name == "s3"


@pytest.mark.parametrize(
    "good", ["a", "abc123", "A-b_C", "x" * 128, "550e8400-e29b-41d4-a716-446655440000"]
)
def test_valid_record_ids(good: str) -> None:
    assert validate_record_id(good) == good


@pytest.mark.parametrize(
    "bad", ["", "x" * 129, "a b", "../x", "a/b", "é", "a\x00", ".", "a\n", 5, None]
)
def test_invalid_record_ids(bad: object) -> None:
    with pytest.raises(InvalidRecordId):
        validate_record_id(bad)


def test_parse_key_accepts_exactly_the_spec_shapes() -> None:
    assert parse_key("abc/final.webm") == ("abc", "final.webm")
    assert parse_key("abc/chunk-12.webm") == ("abc", "chunk-12.webm")
    assert parse_key("abc/final.mp4") == ("abc", "final.mp4")
    assert parse_key("abc/poster.jpg") == ("abc", "poster.jpg")
    for bad in ["abc", "abc/", "../final.webm", "abc/final.mp4.webm", "abc/poster.png",
                "abc/../final.webm", "abc/chunk-01.webm",
                "abc/chunk--1.webm", "abc/final.webm\x00", "/abc/final.webm", "abc/x/final.webm",
                "abc/state.sqlite3", "abc%2Ffinal.webm"]:  # fmt: skip
        with pytest.raises(InvalidKey):
            parse_key(bad)


def chunk(index: int, seq: int | None = None) -> Chunk:
    return Chunk(index, seq, 10, ChunkState.STORED, 0.0)


def test_plan_orders_by_seq_when_every_chunk_has_one() -> None:
    rows = [chunk(0, 0), chunk(1, 2), chunk(2, 1)]
    assert plan_final(rows, {0, 1, 2}) == ([0, 2, 1], [])


def test_plan_orders_by_index_without_seq_and_reports_lost_and_missing() -> None:
    assert plan_final([chunk(1), chunk(0), chunk(2)], {0, 1, 2}) == ([0, 1, 2], [])
    ordered, warnings = plan_final([chunk(0), chunk(1), chunk(2), chunk(3)], {0, 2})
    assert ordered == [0, 2]
    assert warnings == ["stored chunks missing from storage: 1, 3"]
    ordered, warnings = plan_final(
        [chunk(0, 0), chunk(1, 3), chunk(2, 4), chunk(3, 7)], {0, 1, 2, 3}
    )
    assert warnings == ["chunks never received (seq): 1-2, 5-6"]


def test_plan_fails_without_the_header_chunk() -> None:
    with pytest.raises(FinalizeFailed, match="first chunk"):
        plan_final([chunk(0), chunk(1)], {1})


def test_status_document_shows_download_only_when_ready() -> None:
    rec = Recording("r1", RecordingState.RECORDING, 3, 3, 300, 0.0, 1.5)
    doc = status_document(rec)
    assert doc["status"] == "recording" and "downloadUrl" not in doc
    assert (
        doc["createdAt"] == "1970-01-01T00:00:00.000Z"
        and doc["updatedAt"] == "1970-01-01T00:00:01.500Z"
    )
    ready = Recording(
        "r1", RecordingState.READY, 3, 3, 300, 0.0, 2.0, duration_ms=5000, final_bytes=280
    )
    assert status_document(ready)["downloadUrl"] == "/recordings/download/r1%2Ffinal.webm"


_MALLOC_PROBE = """
import ctypes, ctypes.util, sys
from screenrec.server import tune_malloc

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

mallinfo2 = ctypes.CDLL(ctypes.util.find_library("c")).mallinfo2
mallinfo2.restype = MallInfo2
if sys.argv[1] == "tuned":
    assert tune_malloc()
first = b"x" * (8 << 20)
del first  # untuned, glibc raises its mmap threshold to 8 MiB on this free
before = mallinfo2().hblks
batch = b"x" * (4 << 20)  # a finalize read batch
print(mallinfo2().hblks - before)
"""


def test_serve_maps_large_buffers_so_freeing_returns_them() -> None:
    """What `serve` sets up keeps multi-megabyte buffers (finalize's read batches) in their own
    mappings, returned to the system when freed, where glibc's default would have moved them
    into the heap after the first large free (the control)."""

    def mapped(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", _MALLOC_PROBE, mode], capture_output=True, text=True, check=True
        )
        return int(out.stdout)

    assert mapped("tuned") == 1
    assert mapped("default") == 0, "glibc mapped it anyway: the test shows nothing"


def test_write_pacer_goes_to_threads_after_a_slow_write_and_probes_back() -> None:
    pacer = WritePacer(budget=0.001, max_inline=1000, probe_every=4, max_probe_every=16)
    assert pacer.inline(1000) and not pacer.inline(1001)  # too big: always a thread
    pacer.record(0.0002)
    assert pacer.inline(10)
    pacer.record(0.05)  # a slow disk: threads, one inline probe every 4 writes
    assert [pacer.inline(10) for _ in range(4)] == [False, False, False, True]
    pacer.record(0.05)  # the probe was slow too: probe half as often
    assert [pacer.inline(10) for _ in range(8)] == [False] * 7 + [True]
    for _ in range(3):
        pacer.record(0.05)
        while not pacer.inline(10):
            pass
    pacer.record(0.05)  # 8 -> 16 -> 32, capped at 16
    assert [pacer.inline(10) for _ in range(16)] == [False] * 15 + [True]
    pacer.record(0.0001)  # fast again: inline from now on
    assert all(pacer.inline(10) for _ in range(5))
