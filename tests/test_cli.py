"""The admin CLI against real data dirs, while a real server runs and after one was killed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import Server, cut, record


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screenrec", *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )  # fmt: skip


async def test_list_and_status_see_what_the_running_server_wrote(
    server: Server, client, webm: bytes
) -> None:
    await record(client, "seen", cut(webm, 4))
    await client.call("start", {"recordId": "live"})
    listing = await asyncio.to_thread(cli, "list", "--json", "--data-dir", str(server.data_dir))
    assert listing.returncode == 0, listing.stderr
    docs = json.loads(listing.stdout)
    assert [d["recordId"] for d in docs] == ["live", "seen"]  # newest first
    assert docs[1]["status"] == "ready" and docs[1]["chunks"] == 4
    table = await asyncio.to_thread(cli, "list", "--data-dir", str(server.data_dir))
    assert "seen" in table.stdout and "ready" in table.stdout
    status = await asyncio.to_thread(
        cli, "status", "seen", "--json", "--data-dir", str(server.data_dir)
    )
    doc = json.loads(status.stdout)
    assert doc["downloadUrl"] == "/recordings/download/seen%2Ffinal.webm"
    assert abs(doc["durationMs"] - 10_000) <= 200


def test_empty_data_dir_and_unknown_ids(tmp_path: Path) -> None:
    assert json.loads(cli("list", "--json", "--data-dir", str(tmp_path)).stdout) == []
    assert "no recordings" in cli("list", "--data-dir", str(tmp_path)).stdout
    missing = cli("status", "nope", "--data-dir", str(tmp_path))
    assert missing.returncode == 3 and "no recording nope" in missing.stderr
    bad = cli("status", "../etc", "--data-dir", str(tmp_path))
    assert bad.returncode == 2 and "recordId" in bad.stderr  # a usage error, like every bad id


async def test_finalize_repairs_a_recording_orphaned_by_a_killed_server(
    server_factory, client_factory, webm: bytes, tmp_path: Path
) -> None:
    server = server_factory(data_dir=tmp_path / "data")
    client = await client_factory(server.url)
    pieces = cut(webm, 5)
    await client.call("start", {"recordId": "orphan"})
    for piece in pieces:
        await client.call("chunk", {"recordId": "orphan", "chunk": piece})
    server.stop(signal.SIGKILL)
    done = await asyncio.to_thread(
        cli, "finalize", "orphan", "missing", "--json", "--data-dir", str(tmp_path / "data")
    )
    assert done.returncode == 3  # "missing" is not found: the first failure's exit code
    results = {r["recordId"]: r for r in json.loads(done.stdout)}
    assert results["orphan"]["status"] == "ready" and results["orphan"]["bytes"] == len(webm)
    assert results["missing"]["code"] == "not_started"
    assert (tmp_path / "data" / "recordings" / "orphan" / "final.webm").stat().st_size > 0
    again = await asyncio.to_thread(cli, "finalize", "orphan", "--data-dir", str(tmp_path / "data"))
    assert again.returncode == 0 and "ready" in again.stdout


def test_configuration_errors_exit_2_with_a_message(tmp_path: Path) -> None:
    bad_size = cli("serve", "--max-chunk-bytes", "lots", "--data-dir", str(tmp_path))
    assert bad_size.returncode == 2 and "not a size" in bad_size.stderr
    redis = cli(
        "serve", "--port", "0", "--data-dir", str(tmp_path), env={"REDIS_HOST": "127.0.0.1"}
    )
    # REDIS_HOST selects Redis, which is not running here: a clear start-up failure, no fallback
    assert redis.returncode == 1 and "state store (redis)" in redis.stderr
    assert cli("--version").stdout.startswith("screenrec ")
