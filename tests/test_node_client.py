"""The official JavaScript socket.io-client 4.x, under Node, against `screenrec serve` unchanged.

`tests/node/client.js` follows the spec's example (events, not acks; Node Buffers as chunks) and
prints one JSON line describing what it saw; these tests check that line and the final file.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.media import probe
from tests.support.node import NODE_DIR, NPM_TIMEOUT
from tests.support.servers import Server

CLIENT_JS = NODE_DIR / "client.js"
CLIENT_TIMEOUT = 90.0  # client.js gives up by itself after 60 s
PIECES = 12


async def run_client(
    node: str, server: Server, record_id: str, source: Path, pieces: int
) -> tuple[int, str, str, float]:
    """Run client.js to the end; return (exit code, stdout, stderr, seconds taken)."""
    began = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        node, str(CLIENT_JS), server.url, record_id, str(source), str(pieces),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), CLIENT_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"client.js still running after {CLIENT_TIMEOUT:.0f} s")
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode(), time.monotonic() - began


def server_log(server: Server) -> str:
    return "".join(server.log[-40:])


@pytest.mark.timeout(NPM_TIMEOUT + 120)
async def test_official_js_client_records_resumes_and_survives_a_bad_event(
    node: str,
    server: Server,
    http: aiohttp.ClientSession,
    webm_path: Path,
    ffmpeg: str,
    tmp_path: Path,
) -> None:
    record_id = str(uuid.uuid4())
    code, out, err, _ = await run_client(node, server, record_id, webm_path, PIECES)
    assert code == 0, f"client.js exited {code}:\n{err}\n--- server log ---\n{server_log(server)}"
    seen: dict[str, Any] = json.loads(out.strip().splitlines()[-1])

    assert seen["started"] == {"recordId": record_id, "nextIndex": 0}
    assert seen["indices"] == list(range(PIECES))
    finished = seen["finished"]
    assert finished["recordId"] == record_id
    assert finished["status"] == "ready", finished
    assert finished["downloadUrl"] == f"/recordings/download/{record_id}%2Ffinal.webm"
    assert finished["chunks"] == PIECES and finished["bytes"] == webm_path.stat().st_size
    # emitWithAck('start') on the live id: the ack is the answer, and it resumes, not resets.
    assert seen["resumeAck"] == {"recordId": record_id, "nextIndex": PIECES}
    bad = seen["badException"]
    assert bad["status"] == "error" and bad["code"] == "invalid_record_id", bad
    assert bad["recordId"] == "../etc" and bad["message"]
    assert seen["exceptions"] == [bad]  # nothing else went wrong on the way
    assert seen["connectedAfterError"] is True

    final = tmp_path / "final.webm"
    async with http.get(server.url + finished["downloadUrl"]) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"] == "video/webm"
        final.write_bytes(await resp.read())
    source, result = probe(ffmpeg, webm_path), probe(ffmpeg, final)
    assert result.duration_s is not None and abs(result.duration_s - 10.0) <= 0.2, result
    assert result.video_frames == source.video_frames


@pytest.mark.timeout(NPM_TIMEOUT + 60)
async def test_official_js_client_gets_the_error_for_a_rejected_chunk(
    node: str, server_factory, webm_path: Path
) -> None:
    """A rejected real chunk reaches the JS client as `exception` (and the harness exits at once
    instead of waiting for chunkSaved events that will never come)."""
    server = server_factory("--max-chunk-bytes", "16KiB")
    code, out, err, took = await run_client(node, server, "too-big", webm_path, PIECES)
    assert code == 1, f"client.js exited {code}: {out}{err}"
    assert "server sent exception" in err and '"code":"chunk_too_large"' in err, err
    assert '"recordId":"too-big"' in err, err
    assert took < 20, f"client.js took {took:.1f} s to give up"
