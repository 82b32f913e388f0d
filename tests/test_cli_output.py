"""What the CLI shows people, at 80 columns and in pipes: whole ids, status like list, the purge
plan and its answers, store hints, and a server's view of one recording."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.backends import RedisServer
from tests.support.servers import Server
from tests.test_cli_errors import add_recordings, cli, media_bytes, one_error


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def test_list_keeps_every_id_whole_at_80_columns_and_in_pipes(data: Path) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    add_recordings(data, *((rid, media_bytes(250_000)) for rid in ids))
    shown = cli("list", "--data-dir", str(data))  # a pipe, COLUMNS=80
    assert shown.returncode == 0
    for rid in ids:
        assert rid in shown.stdout
    assert all(len(line) <= 80 for line in shown.stdout.splitlines())
    assert "…" not in shown.stdout and "0.2 MB" in shown.stdout  # decimal MB, like the page
    wide = cli("list", "--wide", "--data-dir", str(data))
    assert "last activity" in wide.stdout and all(rid in wide.stdout for rid in ids)
    only = cli("list", "--ids-only", "--data-dir", str(data))
    assert sorted(only.stdout.split()) == sorted(ids)


def test_status_renders_like_list(data: Path) -> None:
    add_recordings(data, ("live-one", media_bytes(1_500_000, b"y")))
    shown = cli("status", "live-one", "--data-dir", str(data))
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "1.5 MB" in text and "chunk files" in text and "next index 1" in text
    for raw in ("None", "False", "True", "['", "1500000"):  # no Python reprs, no byte counts
        assert raw not in text, raw
    assert not re.search(r"\dT\d", text)  # local times, not ISO strings
    doc = json.loads(cli("status", "live-one", "--json", "--data-dir", str(data)).stdout)
    assert doc["bytes"] == 1_500_000 and doc["chunkIndices"] == [0]  # --json unchanged


def test_purge_shows_its_plan_and_what_it_skips(data: Path) -> None:
    add_recordings(data, ("live-a", media_bytes(2_000_000, b"z")))
    dry = cli("purge", "live-a", "ghost", "--dry-run", "--data-dir", str(data))
    assert dry.returncode == 3  # named ids it cannot delete
    assert one_error(dry) == "error: no recording ghost"
    shown = cli("purge", "--status", "recording", "--dry-run", "--data-dir", str(data))
    assert "live-a" in shown.stdout and "skip: still recording" in shown.stdout
    assert "nothing to delete" in shown.stdout and "--force" in shown.stderr
    plan = json.loads(
        cli("purge", "live-a", "ghost", "--force", "--dry-run", "--json", "--data-dir",
            str(data)).stdout
    )  # fmt: skip
    assert plan["recordings"] == [{"recordId": "live-a", "status": "recording", "bytes": 2_000_000}]
    assert plan["skipped"] == [{"recordId": "ghost", "reason": "not found"}]
    forced = cli("purge", "live-a", "--force", "--dry-run", "--data-dir", str(data))
    assert "live-a" in forced.stdout and "2.0 MB" in forced.stdout
    assert "would delete 1 recording(s), 2.0 MB" in forced.stdout


def test_answering_no_deletes_nothing_and_says_so(data: Path) -> None:
    add_recordings(data, ("keep-me", media_bytes(1000, b"k")))
    controller, terminal = pty.openpty()
    try:
        os.write(controller, b"n\n")
        result = subprocess.run(
            [sys.executable, "-m", "screenrec", "purge", "keep-me", "--force", "--data-dir",
             str(data)], stdin=terminal, capture_output=True, text=True, timeout=60,
            env={**os.environ, "COLUMNS": "80"},
        )  # fmt: skip
    finally:
        os.close(controller)
        os.close(terminal)
    assert result.returncode == 1
    assert "keep-me" in result.stdout and "Delete 1 recording(s), 0.001 MB?" in result.stdout
    assert "nothing deleted" in result.stdout
    assert (data / "recordings" / "keep-me").exists()


def test_an_empty_result_names_the_store_it_read(data: Path, redis_server: RedisServer) -> None:
    empty = cli("list", "--data-dir", str(data))
    assert "no recordings" in empty.stdout
    assert f"hint: read sqlite at {data / 'state.sqlite3'}" in empty.stderr
    assert "--redis-url" in empty.stderr
    url = f"redis://127.0.0.1:{redis_server.port}/14"
    other = cli("list", "--data-dir", str(data), "--redis-url", url)
    assert "no recordings" in other.stdout, other.stderr
    assert f"read redis at {url}" in other.stderr and "state.sqlite3 holds state" in other.stderr


def test_status_server_with_an_id_asks_that_server(server_factory, webm: bytes) -> None:
    server: Server = server_factory("--token", "s3cret")
    add_recordings(server.data_dir, ("remote-one", webm))  # the server's own SQLite and disk
    assert cli("finalize", "remote-one", "--data-dir", str(server.data_dir)).returncode == 0

    def ask(record_id: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {"SCREENREC_TOKEN": token} if token else {}
        return cli("status", record_id, "--server", server.url, env=env)

    denied = ask("remote-one")
    assert denied.returncode == 1 and "answered 401" in one_error(denied)
    assert "hint: pass --token" in denied.stderr
    shown = ask("remote-one", token="s3cret")
    assert shown.returncode == 0, shown.stderr
    assert "ready" in shown.stdout and f"{server.url}/recordings/download/" in shown.stdout
    missing = ask("ghost", token="s3cret")
    assert missing.returncode == 3 and "ghost" in one_error(missing)
