"""Operations: stale and crashed recordings, purge, housekeeping in serve, completions, logs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from typer.testing import CliRunner

from screenrec.cli import app
from tests.conftest import Server, cut, probe, record

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screenrec", *args],
        capture_output=True, text=True, timeout=120, input=stdin,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


async def acli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(cli, *args)


async def wait_for_status(
    http: aiohttp.ClientSession, server: Server, record_id: str, want: int | str
) -> dict:
    """Poll the REST status until it shows `want` (a state, or an HTTP status), bounded."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        async with http.get(f"{server.url}/recordings/{record_id}/status") as resp:
            doc = await resp.json()
            if resp.status == want or doc.get("status") == want:
                return doc
        await asyncio.sleep(0.1)
    raise AssertionError(f"{record_id} never reached {want}: {doc}")


def test_in_process_list_and_status_on_an_empty_data_dir(tmp_path: Path) -> None:
    result = runner.invoke(app, ["list", "--json", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    result = runner.invoke(app, ["status", "ghost", "--data-dir", str(tmp_path)])
    assert result.exit_code == 3
    result = runner.invoke(app, ["finalize", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2  # neither ids nor --stale
    result = runner.invoke(app, ["purge", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2  # nothing selected
    result = runner.invoke(app, ["list", "--older-than", "soon", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2


async def test_crashed_recording_found_inspected_repaired_and_purged(
    server_factory, client_factory, webm: bytes, ffmpeg: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    server = server_factory("--stale-after", "0", data_dir=data)
    client = await client_factory(server.url)
    await record(client, "finished-one", cut(webm, 3))
    pieces = cut(webm, 10)
    await client.call("start", {"recordId": "crashed"})
    for seq, piece in enumerate(pieces[:7]):
        assert (await client.call("chunk", {"recordId": "crashed", "chunk": piece, "seq": seq}))[
            "index"
        ] == seq
    server.stop(signal.SIGKILL)

    listing = json.loads((await acli("list", "--json", "--data-dir", str(data))).stdout)
    assert [(d["recordId"], d["status"]) for d in listing] == [
        ("crashed", "recording"), ("finished-one", "ready"),
    ]  # fmt: skip
    assert set(listing[0]) >= {"recordId", "status", "chunks", "bytes", "createdAt", "updatedAt"}
    live = json.loads(
        (await acli("list", "--json", "--status", "recording", "--data-dir", str(data))).stdout
    )
    assert [d["recordId"] for d in live] == ["crashed"]

    status = json.loads((await acli("status", "crashed", "--json", "--data-dir", str(data))).stdout)
    assert status["chunkIndices"] == list(range(7)) and status["chunks"] == 7

    repaired = await acli("finalize", "--stale", "--idle", "0s", "--json", "--data-dir", str(data))
    assert repaired.returncode == 0, repaired.stderr
    (result,) = json.loads(repaired.stdout)
    acked = sum(len(p) for p in pieces[:7])
    assert result["recordId"] == "crashed" and result["status"] == "ready"
    assert result["bytes"] == acked and result["chunks"] == 7
    final = data / "recordings" / "crashed" / "final.webm"
    got = probe(ffmpeg, final)
    assert got.duration_s and got.duration_s > 3 and got.video_frames > 90
    detail = json.loads((await acli("status", "crashed", "--json", "--data-dir", str(data))).stdout)
    assert detail["videoCodec"] == "vp8" and detail["audioCodec"] == "opus"

    dry = await acli("purge", "--status", "ready", "--dry-run", "--json", "--data-dir", str(data))
    plan = json.loads(dry.stdout)
    assert plan["dryRun"] and {r["recordId"] for r in plan["recordings"]} == {
        "crashed", "finished-one",
    }  # fmt: skip
    assert plan["bytesFreed"] > 0 and final.exists()  # dry run changed nothing
    refused = await acli("purge", "crashed", "--data-dir", str(data))  # no terminal, no --yes
    assert refused.returncode == 2 and final.exists()
    gone = await acli("purge", "crashed", "--yes", "--data-dir", str(data))
    assert gone.returncode == 0 and "deleted 1 recording" in gone.stdout
    assert not (data / "recordings" / "crashed").exists()
    assert (await acli("status", "crashed", "--data-dir", str(data))).returncode == 3


async def test_purge_refuses_a_live_recording_unless_forced(
    server: Server, client, webm: bytes, http: aiohttp.ClientSession
) -> None:
    await client.call("start", {"recordId": "busy"})
    await client.call("chunk", {"recordId": "busy", "chunk": cut(webm, 4)[0]})
    data = str(server.data_dir)
    refused = await acli("purge", "busy", "--yes", "--data-dir", data)
    assert refused.returncode == 1 and "--force" in refused.stderr
    by_status = await acli("purge", "--status", "recording", "--yes", "--json", "--data-dir", data)
    assert json.loads(by_status.stdout)["recordings"] == []  # skipped, not deleted
    async with http.delete(f"{server.url}/recordings/busy") as resp:
        assert resp.status == 409 and (await resp.json())["error"]["code"] == "busy"
    async with http.delete(f"{server.url}/recordings/busy?force=true") as resp:
        assert resp.status == 200 and (await resp.json())["bytesFreed"] > 0
    await wait_for_status(http, server, "busy", 404)


async def test_two_concurrent_finalize_runs_make_one_final(
    server_factory, client_factory, webm: bytes, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    server = server_factory("--stale-after", "0", data_dir=data)
    client = await client_factory(server.url)
    await client.call("start", {"recordId": "contested"})
    for piece in cut(webm, 6):
        await client.call("chunk", {"recordId": "contested", "chunk": piece})
    server.stop(signal.SIGKILL)
    first, second = await asyncio.gather(
        acli("finalize", "contested", "--json", "--data-dir", str(data)),
        acli("finalize", "contested", "--json", "--data-dir", str(data)),
    )
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    a, b = json.loads(first.stdout)[0], json.loads(second.stdout)[0]
    assert a["status"] == b["status"] == "ready"
    assert a["updatedAt"] == b["updatedAt"]  # one finalize, seen twice
    made = {p.name for p in (data / "recordings" / "contested").iterdir()}
    assert made == {"final.webm", "poster.jpg"}


async def test_serve_finalizes_stale_recordings_and_applies_retention(
    server_factory, client_factory, webm: bytes, http: aiohttp.ClientSession
) -> None:
    server = server_factory("--stale-after", "1s", "--retention", "2s", "--log-format", "json")
    client = await client_factory(server.url)
    await client.call("start", {"recordId": "abandoned"})
    for piece in cut(webm, 4):
        await client.call("chunk", {"recordId": "abandoned", "chunk": piece})
    doc = await wait_for_status(http, server, "abandoned", "ready")  # nobody sent stop
    assert doc["bytes"] == len(webm)
    await wait_for_status(http, server, "abandoned", 404)  # then retention purged it
    assert not (server.storage / "abandoned").exists()
    server.wait_for_log("purged abandoned")
    logs = [json.loads(line) for line in server.log if line.startswith("{")]
    started = [entry for entry in logs if entry["message"].startswith("started abandoned")]
    assert started and started[0]["recordId"] == "abandoned" and started[0]["level"] == "info"
    assert any("purged abandoned" in entry["message"] for entry in logs)


async def test_status_server_shows_capabilities(server: Server) -> None:
    shown = await acli("status", "--server", server.url, "--json")
    doc = json.loads(shown.stdout)
    assert doc["status"] == "ok" and "stale-finalize" in doc["capabilities"]
    table = await acli("status", "--server", server.url)
    assert "capabilities" in table.stdout and "sqlite" in table.stdout
    down = await acli("status", "--server", "http://127.0.0.1:9")
    assert down.returncode == 1


def test_completions_are_up_to_date() -> None:
    binary = Path(sys.executable).parent / "screenrec"
    for shell in ("bash", "zsh", "fish"):
        fresh = subprocess.run(
            [str(binary)], capture_output=True, text=True, check=True,
            env={**os.environ, "_SCREENREC_COMPLETE": f"source_{shell}"},
        ).stdout  # fmt: skip
        committed = (ROOT / "completions" / f"screenrec.{shell}").read_text()
        assert fresh == committed, (
            f"completions/screenrec.{shell} is stale: run scripts/completions"
        )


def test_every_command_and_option_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    import typer.main

    click_app = typer.main.get_command(app)
    for name, command in click_app.commands.items():  # type: ignore[attr-defined]
        assert f"screenrec {name}" in readme, f"`screenrec {name}` missing from README"
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--") and opt != "--help":
                    assert (
                        opt in readme or opt in (ROOT / "docs" / "configuration.md").read_text()
                    ), f"{name} {opt} is documented nowhere"
