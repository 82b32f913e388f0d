"""`screenrec simulate` against real servers: a clean run with --verify, realtime pacing, the
spec's reply events, a rejected chunk reported as a failure, and a server that is not there."""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from screenrec.simulate.source import cut, fixed_cut
from tests.support.servers import Server

Simulate = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def simulate(tmp_path_factory: pytest.TempPathFactory) -> Simulate:
    """Run `screenrec simulate` with its media cache in a temp dir shared by this module."""
    cache = tmp_path_factory.mktemp("simulate-cache")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "screenrec", "simulate", *args],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "XDG_CACHE_HOME": str(cache), "COLUMNS": "200"},
        )  # fmt: skip

    return run


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


def test_a_clean_run_is_verified_and_exits_0(server: Server, simulate: Simulate) -> None:
    result = simulate("--url", server.url, "--clients", "3", "--duration", "4", "--window", "4",
                      "--verify", "--json")  # fmt: skip
    doc = summary(result)
    assert result.returncode == 0, doc
    assert doc["ok"] is True
    assert result.stderr == ""  # no progress off a terminal, no warnings
    assert doc["recordings"] == 3 and doc["recordingsFailed"] == 0
    assert doc["chunksOffered"] == doc["chunksAcked"] == 12  # 4 s cut into 1 s pieces, x3
    assert doc["bytesAcked"] == doc["bytesOffered"] > 0
    assert doc["errors"] == {"total": 0, "byCode": {}, "byKind": {}}
    assert doc["verify"] == {"passed": 3, "failed": 0}
    assert set(doc["ackLatencyMs"]) == {"p50", "p95", "p99", "max"}
    assert doc["sendLagMs"] is None  # only measured when paced
    finals = list(server.storage.glob("sim-*/final.webm"))
    assert len(finals) == 3


def test_realtime_pacing(server: Server, simulate: Simulate) -> None:
    result = simulate("--url", server.url, "--realtime", "--interval", "0.25", "--duration", "2",
                      "--clients", "2", "--json")  # fmt: skip
    doc = summary(result)
    assert result.returncode == 0, doc
    assert doc["recordings"] == 2
    assert doc["chunksOffered"] == doc["chunksAcked"] == 16  # 2 s in 0.25 s pieces, x2
    assert set(doc["sendLagMs"]) == {"p99", "max"}
    assert doc["verify"] is None


def test_spec_reply_events_instead_of_acks(server: Server, simulate: Simulate) -> None:
    spec_url = server.url.replace("http://", "ws://") + "/recording"  # the spec's form works too
    result = simulate("--url", spec_url, "--answers", "event", "--clients", "2", "--duration",
                      "2", "--window", "3", "--id-prefix", "spec", "--json")  # fmt: skip
    doc = summary(result)
    assert result.returncode == 0, doc
    assert doc["recordings"] == 2 and doc["chunksAcked"] == doc["chunksOffered"] == 4


def test_rejected_chunks_fail_the_run(
    server_factory: Callable[..., Server], simulate: Simulate
) -> None:
    server = server_factory("--max-chunk-bytes", "10k")
    result = simulate("--url", server.url, "--chunk-bytes", "50000", "--duration", "2", "--json")
    doc = summary(result)
    assert result.returncode == 1
    assert doc["ok"] is False
    assert doc["errors"]["byCode"]["chunk_too_large"] == doc["chunksOffered"] > 0
    assert doc["chunksAcked"] == 0
    assert any("chunk_too_large" in f for f in doc["failures"])
    table = simulate("--url", server.url, "--chunk-bytes", "50000", "--duration", "2")
    assert table.returncode == 1
    assert "chunk_too_large" in table.stdout and "errors" in table.stdout


def test_connection_refused(simulate: Simulate) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = simulate("--url", f"http://127.0.0.1:{port}", "--json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"cannot connect to http://127.0.0.1:{port}: Connection refused" in result.stderr


def test_bad_options_are_usage_errors(simulate: Simulate, tmp_path: Path) -> None:
    result = simulate("--url", "ftp://127.0.0.1:1", "--codec", "theora")  # h264 is one now
    assert result.returncode == 2
    assert "--url must be http(s)://" in result.stderr and "--codec must be one of" in result.stderr
    missing = simulate("--url", "http://127.0.0.1:1", "--bitrate", "fast")
    assert missing.returncode == 2 and "not a size" in missing.stderr


def test_simulate_is_a_pure_client() -> None:
    """It never imports the server or the service, so it can measure any server."""
    package = Path(__file__).resolve().parent.parent / "screenrec" / "simulate"
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            banned = [n for n in names if n.startswith(("screenrec.server", "screenrec.service"))]
            assert not banned, f"{path.name} imports {banned}"


def test_cut_keeps_every_byte_at_arbitrary_offsets() -> None:
    data = bytes(range(256)) * 4000  # 1,024,000 bytes
    pieces = cut(data, 100_000, seed=3)
    assert b"".join(pieces) == data
    assert len(pieces) == 10
    assert all(50_000 <= len(p) <= 150_000 for p in pieces)  # boundaries move ±25 %
    assert len({len(p) for p in pieces}) > 1  # not a fixed stride
    assert cut(data, 100_000, seed=3) == pieces  # seeded
    fixed = fixed_cut(data, 300_000)
    assert [len(p) for p in fixed] == [300_000, 300_000, 300_000, 124_000]
