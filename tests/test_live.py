"""The live view (`GET /recordings/{recordId}/live`): a recording in progress as one WebM
stream a player can open at any moment, from the latest keyframe, following every chunk as
it is stored and ending with the recording. Checked with ffmpeg reading it over HTTP."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.clients import Client
from tests.support.media import cut
from tests.support.samples import make
from tests.support.servers import Server

LIVE_TIMEOUT = 60.0


async def send(client: Client, record_id: str, pieces: list[bytes], first_seq: int = 0) -> None:
    for seq, piece in enumerate(pieces, start=first_seq):
        ack = await client.call("chunk", {"recordId": record_id, "chunk": piece, "seq": seq})
        assert "index" in ack, ack


async def test_a_late_joiner_gets_a_decodable_stream_that_follows_and_ends(
    server: Server, client: Client, webm: bytes, ffmpeg: str, tmp_path: Path
) -> None:
    pieces = cut(webm, 10)  # 10 s of media, a keyframe every second
    await client.call("start", {"recordId": "on-air"})
    await send(client, "on-air", pieces[:5])
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/recordings/on-air/status") as resp,
    ):
        live_url = (await resp.json())["liveUrl"]
    assert live_url == "/recordings/on-air/live"
    watched = tmp_path / "watched.webm"
    watcher = await asyncio.create_subprocess_exec(
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-i", f"{server.url}{live_url}", "-map", "0", "-c", "copy", str(watched),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await _wait_for_watchers(server, 1)  # it joined mid-take
    await send(client, "on-air", pieces[5:], first_seq=5)
    finished = await client.call("stop", {"recordId": "on-air", "chunks": 10})
    assert finished["status"] == "ready" and "liveUrl" not in finished
    _, stderr = await asyncio.wait_for(watcher.communicate(), LIVE_TIMEOUT)  # the stream ended
    assert watcher.returncode == 0, stderr.decode()
    decoded = await _decode(ffmpeg, watched)
    assert decoded["errors"] == [], decoded  # it began on a keyframe: every frame decodes
    # It joined at the latest keyframe of the first half (4-5 s in, a keyframe a second)
    # and followed to the very end (10 s at 30 fps: 300 frames in all).
    assert 150 <= decoded["frames"] <= 180, decoded


async def test_live_answers_json_errors_for_finished_unknown_and_mp4_recordings(
    server: Server, client: Client, webm: bytes, ffmpeg: str, tmp_path_factory: Any
) -> None:
    await client.call("start", {"recordId": "done"})
    await send(client, "done", cut(webm, 3))
    await client.call("stop", {"recordId": "done"})
    mp4 = make(ffmpeg, tmp_path_factory, "h264_aac.mp4").read_bytes()
    await client.call("start", {"recordId": "safari"})
    await send(client, "safari", cut(mp4, 3))
    async with aiohttp.ClientSession() as http:
        for record_id, status, code in [
            ("done", 409, "already_finished"),
            ("nobody", 404, "not_found"),
            ("safari", 415, "unsupported_media"),
            ("..%2Fetc", 400, "invalid_record_id"),
        ]:
            async with http.get(f"{server.url}/recordings/{record_id}/live") as resp:
                body = await resp.json()
                assert (resp.status, body["error"]["code"]) == (status, code), (record_id, body)


async def test_with_tokens_the_live_url_is_a_signed_link(server_factory: Any, webm: bytes) -> None:
    server = server_factory("--token", "live-secret")
    client = Client(server.url)
    await client.sio.connect(
        server.url, namespaces=["/recording"], transports=["websocket"],
        auth={"token": "live-secret"}, wait_timeout=10,
    )  # fmt: skip
    try:
        await client.call("start", {"recordId": "private"})
        await send(client, "private", cut(webm, 6)[:3])
        await _signed_live_link_works(server)
    finally:
        await client.close()


async def _signed_live_link_works(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": "Bearer live-secret"}
        async with http.get(f"{server.url}/recordings/private/status", headers=headers) as resp:
            live_url = (await resp.json())["liveUrl"]
        assert re.fullmatch(r"/recordings/private/live\?expires=\d+&sig=[0-9a-f]{64}", live_url)
        async with http.get(f"{server.url}/recordings/private/live") as resp:
            assert resp.status == 401
        async with http.get(f"{server.url}{live_url}") as resp:
            assert resp.status == 200 and resp.content_type == "video/webm"
            head = await resp.content.readexactly(4)
            assert head == bytes.fromhex("1a45dfa3")  # the init segment comes first


async def _wait_for_watchers(server: Server, count: int) -> None:
    """Until the server's `/metrics` counts `count` live watchers."""
    deadline = asyncio.get_running_loop().time() + LIVE_TIMEOUT
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(f"{server.url}/metrics") as resp:
                text = await resp.text()
            if f"screenrec_live_watchers {count:.1f}" in text:
                return
            assert asyncio.get_running_loop().time() < deadline, "no watcher ever joined"
            await asyncio.sleep(0.05)


async def _decode(ffmpeg: str, path: Path) -> dict[str, Any]:
    """Decode every video frame; count them, collect decoder errors, and the last time."""
    proc = await asyncio.create_subprocess_exec(
        ffmpeg, "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v",
        "-f", "null", "-", stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await proc.communicate()
    text = stderr.decode()
    frames = int(re.findall(r"frame=\s*(\d+)", text)[-1])
    times = re.findall(r"time=(\d+):(\d\d):(\d\d\.\d+)", text)
    h, m, s = times[-1]
    errors = [line for line in text.splitlines() if "error" in line.lower()]
    return {"frames": frames, "last_s": int(h) * 3600 + int(m) * 60 + float(s), "errors": errors}


async def test_socketio_watchers_get_the_same_bytes_as_binary_events(
    server: Server, client: Client, client_factory: Any, webm: bytes, ffmpeg: str, tmp_path: Path
) -> None:
    pieces = cut(webm, 8)
    await client.call("start", {"recordId": "sio-live"})
    await send(client, "sio-live", pieces[:4])
    viewer: Client = await client_factory(server.url)
    viewer.sio.on("live", viewer._collector("live"), namespace="/recording")
    answer = await viewer.call("watch", {"recordId": "sio-live"})
    assert answer == {"recordId": "sio-live"}
    refused = await viewer.call("watch", {"recordId": "never"})
    assert refused["error"]["code"] == "not_found"
    await send(client, "sio-live", pieces[4:], first_seq=4)
    await client.call("stop", {"recordId": "sio-live"})
    received = bytearray()
    while True:
        event = await viewer.next("live", timeout=LIVE_TIMEOUT)
        assert event["recordId"] == "sio-live"
        if event.get("end"):
            assert event["reason"] == "ended"
            break
        received += event["data"]
    assert received[:4] == bytes.fromhex("1a45dfa3")
    assert bytes(received).endswith(pieces[-1])  # it followed to the last chunk
    watched = tmp_path / "sio.webm"
    watched.write_bytes(received)
    decoded = await _decode(ffmpeg, watched)
    assert decoded["errors"] == [] and decoded["frames"] >= 90, decoded
