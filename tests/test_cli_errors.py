"""Every CLI error a newcomer can hit is one `error:` line (plus hints) and the documented exit
code: bad data dirs, unknown and invalid ids, markup in values, a busy port, missing extras."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from screenrec.config import Settings
from screenrec.service import RecordingService

USAGE, NOT_FOUND, FAILED = 2, 3, 1


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screenrec", *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "80", **(env or {})},
    )  # fmt: skip


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single `error:` line on stderr; anything else there must be a `hint:` line."""
    lines = result.stderr.splitlines()
    assert lines and lines[0].startswith("error: "), result.stderr
    assert all(line.startswith("hint: ") for line in lines[1:]), result.stderr
    return lines[0]


# An EBML header naming DocType webm: enough for a first chunk to be taken as a recording.
WEBM_HEAD = bytes.fromhex("1a45dfa3 87 4282 84") + b"webm"


def media_bytes(size: int, fill: bytes = b"x") -> bytes:
    """`size` bytes that open as a WebM stream (the server refuses other first chunks)."""
    return WEBM_HEAD + fill * (size - len(WEBM_HEAD))


def add_recordings(data: Path, *chunks_by_id: tuple[str, bytes | list[bytes]]) -> None:
    """Recordings still `recording`, one chunk each (or a list), written through the real
    service."""

    async def go() -> None:
        service = RecordingService.open(Settings(data_dir=data))
        try:
            for record_id, chunks in chunks_by_id:
                await service.start(record_id)
                for chunk in [chunks] if isinstance(chunks, bytes) else chunks:
                    await service.add_chunk(record_id, chunk)
        finally:
            await service.close()

    asyncio.run(go())


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    data = tmp_path / "empty"
    data.mkdir()
    return data


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("not a directory")
    return path


CASES = [
    # (command line, with {empty} {file} {missing} filled in, exit code, text in the error)
    ("list --data-dir /proc/x", USAGE, "data dir /proc/x does not exist"),
    ("status some-id --data-dir /proc/x", USAGE, "does not exist"),
    ("finalize some-id --data-dir /proc/x", USAGE, "does not exist"),
    ("purge some-id --yes --data-dir /proc/x", USAGE, "does not exist"),
    ("list --data-dir {file}", USAGE, "is not a directory"),
    ("status some-id --data-dir {file}", USAGE, "is not a directory"),
    ("finalize --stale --data-dir {file}", USAGE, "is not a directory"),
    ("purge --status ready --data-dir {file}", USAGE, "is not a directory"),
    ("list --data-dir {missing}", USAGE, "does not exist"),
    ("serve --data-dir {file}", USAGE, "is not a directory"),
    ("serve --data-dir /proc/x", USAGE, "cannot create data dir /proc/x"),
    ("status [/] --data-dir {empty}", USAGE, "'[/]'"),
    ("status a[red]b --data-dir {empty}", USAGE, "'a[red]b'"),
    ("status ../etc --data-dir {empty}", USAGE, "recordId must be"),
    ("finalize ../etc --data-dir {empty}", USAGE, "recordId must be"),
    ("purge ../etc --yes --data-dir {empty}", USAGE, "recordId must be"),
    ("status ghost --data-dir {empty}", NOT_FOUND, "no recording ghost"),
    ("finalize ghost --data-dir {empty}", NOT_FOUND, "ghost"),
    ("purge ghost --yes --data-dir {empty}", NOT_FOUND, "no recording ghost"),
    ("status --server 127.0.0.1:9", USAGE, "--server must be an http:// or https:// URL"),
    ("status ghost --server 127.0.0.1:9", USAGE, "--server must be"),
    ("status --server http://127.0.0.1:9", FAILED, "did not answer"),
    ("status --data-dir {empty}", USAGE, "give a recordId, or --server URL"),
    ("serve --max-chunk-bytes lots --data-dir {empty}", USAGE, "--max-chunk-bytes: not a size"),
    ("serve --log-level loud --data-dir {empty}", USAGE, "--log-level"),
    ("list --older-than soon --data-dir {empty}", USAGE, "--older-than: not a duration"),
    ("list --limit many --data-dir {empty}", USAGE, "'--limit'"),
    ("purge --data-dir {empty}", USAGE, "give recordIds"),
    ("finalize --data-dir {empty}", USAGE, "give recordIds, or --stale"),
    ("simulate --url ftp://x --codec theora", USAGE, "--codec must be one of"),
]


@pytest.mark.parametrize(("line", "code", "text"), CASES, ids=[c[0] for c in CASES])
def test_each_error_is_one_line_and_its_exit_code(
    line: str, code: int, text: str, empty: Path, a_file: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "typo"
    args = line.format(empty=empty, file=a_file, missing=missing).split()
    result = cli(*args)
    assert result.returncode == code, result.stderr
    assert text in one_error(result)
    assert not missing.exists()  # only serve creates a data dir


def test_an_environment_value_is_named_in_its_error(empty: Path) -> None:
    result = cli("serve", "--data-dir", str(empty), env={"SCREENREC_MAX_CHUNK_BYTES": "lots"})
    assert result.returncode == USAGE
    assert one_error(result).startswith("error: SCREENREC_MAX_CHUNK_BYTES: not a size")


def test_serve_on_a_busy_port_names_it(empty: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(empty))
    assert result.returncode == USAGE
    assert f"cannot listen on 127.0.0.1:{port}" in one_error(result)


def test_the_s3_install_hint_keeps_its_brackets(empty: Path, tmp_path: Path) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()  # an aiobotocore that is not installed
    (shim / "aiobotocore.py").write_text("raise ModuleNotFoundError(name='aiobotocore')\n")
    result = cli("serve", "--storage", "s3://bucket/p", "--data-dir", str(empty),
                 env={"PYTHONPATH": str(shim)})  # fmt: skip
    assert result.returncode == USAGE
    assert "pip install 'screenrec[s3]'" in one_error(result)


def test_a_failed_finalize_is_reported_once_with_ffmpegs_context(empty: Path) -> None:
    # A first chunk cut inside an EBML header is taken as a stream's start; what follows is
    # garbage that screenrec's parser cannot read, so ffmpeg (the fallback) says why.
    cut_short = bytes.fromhex("1a45dfa3 8f 4282 84")
    add_recordings(empty, ("garbled", [cut_short, b"not webm at all" * 100]))
    result = cli("finalize", "garbled", "--data-dir", str(empty))
    assert result.returncode == FAILED
    error = one_error(result)  # once: no log line repeating it
    assert error.startswith("error: garbled: ffmpeg could not remux")
    assert " @ 0x" in error and "[" in error  # ffmpeg's `[in#0 @ 0x...]` survives
    assert result.stdout == ""


def test_a_mistyped_data_dir_is_not_created(tmp_path: Path) -> None:
    typo = tmp_path / "dta"
    assert cli("list", "--data-dir", str(typo)).returncode == USAGE
    assert not typo.exists()
