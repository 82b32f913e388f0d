"""The recorder page (`GET /`) in real headless Chromium from Debian, driven by Playwright,
against live `screenrec serve` processes: record from the fake camera, survive a killed
server, play and seek the final, list, play and delete in the library, ask for a token; and
Chromium's H.264 takes (MP4 and WebM) sent with the official client, played as final.mp4.

Screenshots of each state go to `$SCREENREC_ARTIFACTS` (default: the test's tmp dir); each
path is printed (`pytest -s` shows them).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from screenrec.media import moov_before_mdat
from tests.support.clients import Client, record
from tests.support.media import cut, probe
from tests.support.servers import Server

CHROMIUM = os.environ.get("SCREENREC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 30_000  # the longest any one page condition may take
TOKEN = "browser-secret-1"

pytestmark = pytest.mark.slow


@dataclass
class Page:
    """A Playwright page on the recorder, with what it logged and requested."""

    page: Any
    server_url: str
    shots: Path
    name: str
    errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    async def state(self) -> dict[str, Any]:
        """`window.screenrec`: the page's own counters (chunks produced/acked, bytes, phase)."""
        return await self.page.evaluate("() => ({...window.screenrec})")

    async def until(self, condition: str, timeout: float = WAIT_MS) -> None:
        """Wait (bounded) until a JS expression over `s` (= window.screenrec) is true."""
        await self.page.wait_for_function(
            f"() => {{ const s = window.screenrec; return Boolean(s && ({condition})); }}",
            timeout=timeout,
        )

    async def shot(self, label: str, full_page: bool = True) -> Path:
        path = self.shots / f"{self.name}-{label}.png"
        await self.page.screenshot(path=str(path), full_page=full_page)
        print(f"screenshot: {path}")
        return path

    async def record_camera(self) -> None:
        await self.page.get_by_label("Camera").check()
        await self.page.get_by_role("button", name="Record", exact=True).click()
        await self.until("s.phase === 'recording' && s.connection === 'connected'")

    async def stop_and_wait(self) -> dict[str, Any]:
        await self.page.get_by_role("button", name="Stop", exact=True).click()
        await self.until("s.phase === 'done' || s.phase === 'failed'", timeout=60_000)
        state = await self.state()
        assert state["phase"] == "done", state
        return state

    async def seek_middle(self, selector: str) -> tuple[float, float]:
        """Wait for a finite duration on the <video>, seek to its middle, wait for `seeked`."""
        await self.page.wait_for_function(
            f"() => {{ const v = document.querySelector('{selector}');"
            " return v.readyState >= 1 && Number.isFinite(v.duration) && v.duration > 0; }",
            timeout=WAIT_MS,
        )
        return await self.page.evaluate(
            """(selector) => new Promise((resolve, reject) => {
                const v = document.querySelector(selector);
                const timer = setTimeout(() => reject(new Error("no seeked event")), 20000);
                v.addEventListener("seeked", () => {
                  clearTimeout(timer);
                  resolve([v.duration, v.currentTime]);
                }, { once: true });
                v.currentTime = v.duration / 2;
            })""",
            selector,
        )

    def assert_clean(self, console: bool = True) -> None:
        """No uncaught errors, (optionally) no console errors, nothing fetched from elsewhere."""
        assert self.errors == [], self.errors
        if console:
            assert self.console_errors == [], self.console_errors
        foreign = [u for u in self.requests if not u.startswith((self.server_url, "blob:"))]
        assert foreign == [], f"the page fetched from elsewhere: {foreign}"


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    where = Path(os.environ.get("SCREENREC_ARTIFACTS") or tmp_path / "screenshots")
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    """Debian's Chromium, headless, fake camera and microphone, a fresh profile."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
            "(`apt-get install chromium`; scripts/test installs it when run as root), "
            "or point SCREENREC_CHROMIUM at another Chromium",
            pytrace=False,
        )
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("Playwright is missing: pip install -e '.[test]'", pytrace=False)
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1100, "height": 800},
        )
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
def open_page(
    browser: Any, artifacts: Path, request: pytest.FixtureRequest
) -> Callable[[Server], Any]:
    async def open_(server: Server) -> Page:
        page = await browser.new_page()
        name = re.sub(r"\W+", "-", request.node.name).strip("-")
        wrapped = Page(page, server.url, artifacts, name)
        page.on("pageerror", lambda exc: wrapped.errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: wrapped.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        page.on("request", lambda req: wrapped.requests.append(req.url))
        response = await page.goto(server.url + "/")
        assert response is not None and response.status == 200
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "media-src 'self' blob:" in csp
        await page.wait_for_function("() => window.screenrec !== undefined", timeout=WAIT_MS)
        return wrapped

    return open_


async def status_of(server: Server, record_id: str, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/recordings/{record_id}/status", headers=headers) as resp,
    ):
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _poster_url(server: Server, record_id: str) -> str:
    """The recording's posterUrl, once the server has made it (bounded wait)."""
    for _ in range(200):
        doc = await status_of(server, record_id)
        if "posterUrl" in doc:
            return str(doc["posterUrl"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no poster for {record_id}: {doc}")


def check_final(server: Server, ffmpeg: str, state: dict[str, Any], doc: dict[str, Any]) -> None:
    """The server holds exactly what the page produced, and its final is as long as the take."""
    assert doc["status"] == "ready", doc
    assert doc["chunks"] == state["produced"] == state["acked"], (doc, state)
    assert doc["bytes"] == state["bytesProduced"] == state["bytesAcked"], (doc, state)
    assert "warnings" not in doc, doc
    found = probe(ffmpeg, server.storage / state["recordId"] / "final.webm")
    assert found.duration_s is not None and found.video_frames > 0, found
    assert abs(found.duration_s - state["elapsedMs"] / 1000) < 1.5, (found, state["elapsedMs"])


async def test_record_from_the_camera_then_play_and_seek(
    server: Server, open_page: Callable[[Server], Any], ffmpeg: str
) -> None:
    page = await open_page(server)
    await page.page.get_by_text("No recordings yet.").wait_for(timeout=WAIT_MS)
    await page.shot("1-idle")

    await page.record_camera()
    await page.until("s.acked >= 1")
    first = (await page.state())["acked"]
    await page.until(f"s.acked > {first} && s.bytesAcked > 0")  # progress moves
    assert await page.page.locator("#chunks").inner_text() != "0 of 0"
    await page.shot("2-recording")
    await page.until("s.elapsedMs >= 5000", timeout=15_000)

    state = await page.stop_and_wait()
    assert state["pending"] == 0 and state["produced"] >= 5, state
    assert state["lastIndex"] == state["produced"] - 1, state  # chunkSaved events arrived
    duration, position = await page.seek_middle("#player")
    assert abs(duration - state["elapsedMs"] / 1000) < 1.5, (duration, state)
    assert abs(position - duration / 2) < 0.5, (position, duration)
    await page.shot("3-done")

    check_final(server, ffmpeg, state, await status_of(server, state["recordId"]))
    link = await page.page.locator("#download").get_attribute("href")
    assert link == state["finished"]["downloadUrl"]
    page.assert_clean()


async def test_record_the_screen_with_the_microphone(
    server: Server, open_page: Callable[[Server], Any], ffmpeg: str
) -> None:
    """The page's default: getDisplayMedia (Chromium's fake screen, auto-accepted) plus a
    microphone track, so the final has video and audio."""
    page = await open_page(server)
    assert await page.page.get_by_label("Screen, window or tab").is_checked()
    await page.page.get_by_label("Include the microphone").check()
    await page.page.get_by_role("button", name="Record", exact=True).click()
    await page.until("s.phase === 'recording' && s.connection === 'connected'")
    await page.until("s.acked >= 3", timeout=15_000)
    state = await page.stop_and_wait()
    await page.seek_middle("#player")
    check_final(server, ffmpeg, state, await status_of(server, state["recordId"]))
    streams = subprocess.run(
        [ffmpeg, "-hide_banner", "-i", str(server.storage / state["recordId"] / "final.webm")],
        capture_output=True, text=True,
    ).stderr  # fmt: skip
    assert "Video:" in streams and "Audio:" in streams, streams
    page.assert_clean()


async def test_a_killed_server_loses_nothing(
    server_factory: Callable[..., Server], open_page: Callable[[Server], Any], ffmpeg: str
) -> None:
    first = server_factory()
    port = int(first.url.rsplit(":", 1)[1])
    page = await open_page(first)
    await page.record_camera()
    await page.until("s.acked >= 2")

    first.stop(signal.SIGKILL)  # no goodbye: the socket just dies mid-recording
    await page.until("s.connection !== 'connected'")
    offline = (await page.state())["produced"]
    await page.until(f"s.produced >= {offline + 2} && s.pending >= 2")  # kept, not sent
    await page.shot("1-server-gone")

    second = server_factory(port=port)  # same port, same data dir
    await page.until("s.connection === 'connected' && s.pending === 0")
    state = await page.state()
    assert state["reconnects"] >= 1 and state["acked"] == state["produced"], state
    await page.until(f"s.acked >= {state['acked'] + 1}")  # and it goes on recording
    await page.shot("2-resumed")

    state = await page.stop_and_wait()
    check_final(second, ffmpeg, state, await status_of(second, state["recordId"]))
    duration, _ = await page.seek_middle("#player")
    assert abs(duration - state["elapsedMs"] / 1000) < 1.5
    page.assert_clean(console=False)  # Chromium logs the refused reconnection attempts


async def test_the_library_lists_plays_and_deletes(
    server: Server, client: Client, webm: bytes, open_page: Callable[[Server], Any]
) -> None:
    for record_id in ("library-older", "library-newer"):
        assert (await record(client, record_id, cut(webm, 3)))["status"] == "ready"
    page = await open_page(server)
    items = page.page.locator("#recordings > li")
    await page.page.get_by_text("2 recordings.").wait_for(timeout=WAIT_MS)
    assert await items.evaluate_all("lis => lis.map(li => li.dataset.recordId)") == [
        "library-newer",
        "library-older",
    ]
    assert "0:10" in await items.first.locator(".meta").inner_text()  # status · duration · size

    await items.first.get_by_role("button", name="Play").click()
    duration, position = await page.seek_middle("#viewer-player")
    assert abs(duration - 10) < 0.5 and abs(position - duration / 2) < 0.5
    await page.page.wait_for_function(
        "() => document.querySelector('#viewer-player').played.length > 0", timeout=WAIT_MS
    )
    await page.shot("1-library")

    delete = items.last.get_by_role("button", name=re.compile("Delete"))
    await delete.focus()  # the keyboard alone can delete: two presses
    await page.page.keyboard.press("Enter")
    await items.last.get_by_role("button", name=re.compile("^Press again")).wait_for()
    await page.page.keyboard.press("Enter")
    await page.page.get_by_text("Deleted. 1 recording.").wait_for(timeout=WAIT_MS)
    assert (await page.state())["library"] == ["library-newer"]
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/recordings/library-older/status") as resp,
    ):
        assert resp.status == 404

    await page.page.set_viewport_size({"width": 360, "height": 780})
    overflow = await page.page.evaluate("() => document.documentElement.scrollWidth")
    assert overflow <= 360, f"the page is {overflow} px wide at a 360 px window"
    await page.shot("2-narrow-360")
    page.assert_clean()


async def test_with_a_token_the_page_asks_once_then_works(
    server_factory: Callable[..., Server], open_page: Callable[[Server], Any], ffmpeg: str
) -> None:
    server = server_factory("--token", TOKEN)
    page = await open_page(server)
    dialog = page.page.get_by_role("dialog", name="Access token")
    await dialog.wait_for(timeout=WAIT_MS)  # the library's GET /recordings got a 401
    await page.shot("1-token-prompt")
    await dialog.get_by_label("Token").fill("not-the-token")
    await dialog.get_by_label("Token").press("Enter")
    await dialog.get_by_text("did not accept").wait_for(timeout=WAIT_MS)
    await dialog.get_by_label("Token").fill(TOKEN)
    await dialog.get_by_role("button", name="Use this token").click()
    await page.page.get_by_text("No recordings yet.").wait_for(timeout=WAIT_MS)

    await page.record_camera()  # Socket.IO auth: {token} from sessionStorage
    await page.until("s.acked >= 2")
    state = await page.stop_and_wait()
    assert "sig=" in state["finished"]["downloadUrl"]  # a signed link: <video> needs no header
    await page.seek_middle("#player")
    check_final(server, ffmpeg, state, await status_of(server, state["recordId"], TOKEN))

    await page.page.reload()  # kept for the tab: no second prompt
    await page.page.get_by_text("1 recording.").wait_for(timeout=WAIT_MS)
    assert not await dialog.is_visible()

    # A token that stops working: Socket.IO refuses the connection, the page asks again.
    await page.page.evaluate("() => sessionStorage.setItem('screenrec.token', 'revoked')")
    await page.page.get_by_label("Camera").check()
    await page.page.get_by_role("button", name="Record", exact=True).click()
    await dialog.get_by_text("did not accept").wait_for(timeout=WAIT_MS)
    assert (await page.state())["connection"] == "needs-token"
    await page.shot("2-token-refused-while-recording")
    await page.until("s.produced >= 2")  # chunks recorded while the dialog is up are kept
    await dialog.get_by_label("Token").press("Escape")  # the page can do nothing without one
    assert await dialog.is_visible()
    await dialog.get_by_role("button", name="Stop recording").click()  # the page is blocked
    await page.until("s.phase === 'uploading'")
    await dialog.get_by_label("Token").fill(TOKEN)
    await dialog.get_by_label("Token").press("Enter")
    await page.until("s.phase === 'done' || s.phase === 'failed'", timeout=60_000)
    state = await page.state()
    assert state["phase"] == "done" and state["acked"] == state["produced"] >= 2, state
    check_final(server, ffmpeg, state, await status_of(server, state["recordId"], TOKEN))
    page.assert_clean(console=False)  # the refused token's 401s are logged by Chromium


# -- sio.js against the official client ---------------------------------------------------

OFFICIAL_BUNDLE = "/test-only/socket.io.min.js"  # served by Playwright, never by screenrec
SCENARIO = """async ([official, recordId, pieces]) => {
  const io = official ? window.io : (await import("/app/sio.js")).io;
  const s = io("/recording", { transports: ["websocket"], reconnection: false,
                               auth: { token: "any" } });
  const seen = { chunkSaved: [], exception: [], finished: 0 };
  s.on("chunkSaved", (d) => seen.chunkSaved.push(d.index));
  s.on("exception", (d) => seen.exception.push(d.code));
  s.on("finished", () => { seen.finished += 1; });
  await new Promise((ok, fail) => { s.on("connect", ok); s.on("connect_error", fail); });
  const bytes = pieces.map((b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
  const padded = new Uint8Array(bytes[2].length + 8);
  padded.set(bytes[2], 4);
  const chunks = [new Blob([bytes[0]]), bytes[1].buffer, padded.subarray(4, 4 + bytes[2].length)];
  const call = (event, data, ms = 10000) => s.timeout(ms).emitWithAck(event, data);
  const acks = [await call("start", { recordId })];
  for (const [seq, chunk] of chunks.entries()) {
    acks.push(await call("chunk", { recordId, seq, chunk }));
  }
  acks.push(await call("chunk", { recordId, seq: 0, chunk: chunks[0] }));  // a retry
  acks.push(await call("chunk", { recordId, chunk: "not binary" }));  // an error ack
  const finished = await call("stop", { recordId, chunks: 3 });
  s.disconnect();  // then an emit waits in the buffer until its ack times out
  const timedOut = await call("stop", { recordId }, 200).then(() => null, (e) => e.message);
  return { acks, timedOut, seen, bytes: finished.bytes, chunks: finished.chunks,
           status: finished.status, id: typeof s.id };
}"""


async def run_scenario(
    open_page: Callable[[Server], Any], server: Server, official: bool, pieces: list[str]
) -> tuple[dict[str, Any], list[str | bytes]]:
    """Run SCENARIO with one client; return its result and every frame it sent."""
    page = await open_page(server)
    sent: list[str | bytes] = []
    page.page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
    if official:
        await page.page.add_script_tag(url=OFFICIAL_BUNDLE)  # same origin, so the CSP allows it
    record_id = "interop-official" if official else "interop-ours"
    result = await page.page.evaluate(SCENARIO, [official, record_id, pieces])
    page.assert_clean(console=False)
    normalised = [
        f.replace(record_id, "ID") if isinstance(f, str) else f
        for f in sent
        if f != "3"  # pongs: when they fall is up to the server's ping timer
    ]
    return json.loads(json.dumps(result).replace(record_id, "ID")), normalised


async def test_sio_js_puts_the_same_frames_on_the_wire_as_the_official_client(
    server: Server, browser: Any, open_page: Callable[[Server], Any], node: str, webm: bytes
) -> None:
    bundle = Path(__file__).parent / "node/node_modules/socket.io-client/dist/socket.io.min.js"
    await browser.route(
        f"**{OFFICIAL_BUNDLE}", lambda route: route.fulfill(path=str(bundle))
    )  # the official browser bundle, from the npm package the Node tests install
    pieces = [base64.b64encode(p).decode() for p in cut(webm, 3)]  # Blob, ArrayBuffer, view
    official, official_frames = await run_scenario(open_page, server, True, pieces)
    ours, our_frames = await run_scenario(open_page, server, False, pieces)

    assert our_frames == official_frames
    assert our_frames[0] == '40/recording,{"token":"any"}'
    assert our_frames[1] == '42/recording,0["start",{"recordId":"ID"}]'
    assert our_frames[2] == (
        '451-/recording,1["chunk",{"recordId":"ID","seq":0,"chunk":{"_placeholder":true,"num":0}}]'
    )
    # DevTools does not report Blob frames; the ArrayBuffer and the typed-array view (only
    # its own bytes, not its buffer's) are there, and the server counted every byte (below).
    sizes = [len(p) for p in cut(webm, 3)]
    assert [len(f) for f in our_frames if isinstance(f, bytes)] == sizes[1:]
    assert ours == official
    assert [a.get("index") for a in ours["acks"][1:5]] == [0, 1, 2, 0]
    assert ours["acks"][5]["error"]["code"] == "invalid_payload"
    assert ours["timedOut"] == "operation has timed out"
    assert ours["seen"] == {"chunkSaved": [0, 1, 2, 0], "exception": ["invalid_payload"],
                            "finished": 1}  # fmt: skip
    assert (ours["status"], ours["chunks"], ours["bytes"]) == ("ready", 3, len(webm))


# -- H.264 takes: MP4 and H.264-in-WebM, with the official client -------------------------

TAKE = """async ([recordId, mimeType]) => {
  if (!MediaRecorder.isTypeSupported(mimeType)) return { unsupported: mimeType };
  const media = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  const s = window.io("/recording", { transports: ["websocket"] });
  await new Promise((ok, fail) => { s.on("connect", ok); s.on("connect_error", fail); });
  await s.timeout(10000).emitWithAck("start", { recordId });
  const recorder = new MediaRecorder(media, { mimeType, videoKeyFrameIntervalDuration: 1000 });
  let seq = 0;
  const sent = [];
  recorder.ondataavailable = (e) => {
    sent.push(s.timeout(20000).emitWithAck("chunk", { recordId, seq: seq++, chunk: e.data }));
  };
  const stopped = new Promise((ok) => { recorder.onstop = ok; });
  recorder.start(1000);
  await new Promise((ok) => setTimeout(ok, 3500));
  recorder.stop();
  await stopped;
  const acks = await Promise.all(sent);
  media.getTracks().forEach((t) => t.stop());
  const finished = await s.timeout(60000).emitWithAck("stop", { recordId, chunks: seq });
  s.disconnect();
  return { acks, finished, recorded: recorder.mimeType };
}"""
PLAY = """async (url) => {
  const v = document.createElement("video");
  v.muted = true;
  v.src = url;
  document.body.append(v);
  await new Promise((ok, fail) => {
    v.onloadedmetadata = ok; v.onerror = () => fail(new Error("cannot play " + url));
  });
  const duration = v.duration;
  await new Promise((ok) => { v.onseeked = ok; v.currentTime = duration / 2; });
  await v.play();
  return { duration, at: v.currentTime, width: v.videoWidth, height: v.videoHeight };
}"""


@pytest.mark.parametrize(
    "mime", ["video/mp4;codecs=avc1", "video/mp4;codecs=avc1,opus", "video/webm;codecs=h264"]
)
async def test_a_chromium_h264_take_ends_as_a_faststart_mp4_that_plays_and_seeks(
    server: Server,
    browser: Any,
    open_page: Any,
    ffmpeg: str,
    mime: str,
) -> None:
    bundle = Path(__file__).parent / "node/node_modules/socket.io-client/dist/socket.io.min.js"
    await browser.route(f"**{OFFICIAL_BUNDLE}", lambda route: route.fulfill(path=str(bundle)))
    page = await open_page(server)
    await page.page.add_script_tag(url=OFFICIAL_BUNDLE)
    record_id = "h264-" + mime.replace("/", "-").replace(";codecs=", "-").replace(",", "-")
    result = await page.page.evaluate(TAKE, [record_id, mime])
    assert "unsupported" not in result, f"Chromium cannot record {mime}"
    assert all("index" in ack for ack in result["acks"]), result["acks"]
    doc = result["finished"]
    assert (doc["status"], doc["format"], doc["videoCodec"]) == ("ready", "mp4", "h264"), doc
    assert doc["audioCodec"] == "aac"  # Opus is re-encoded for MP4 players; AAC is copied
    assert doc["downloadUrl"] == f"/recordings/download/{record_id}%2Ffinal.mp4"
    final = server.storage / record_id / "final.mp4"
    assert moov_before_mdat(final)
    found = probe(ffmpeg, final)
    assert found.duration_s is not None and 2.0 < found.duration_s < 6.0, found
    played = await page.page.evaluate(PLAY, doc["downloadUrl"])
    assert abs(played["duration"] - found.duration_s) < 0.5, (played, found)
    assert played["at"] >= played["duration"] / 2 - 0.5 and played["width"] > 0, played
    poster_url = await _poster_url(server, record_id)  # made just after `ready`
    poster = await page.page.evaluate(
        """async (url) => { const r = await fetch(url);
            return { type: r.headers.get("content-type"), size: (await r.blob()).size }; }""",
        poster_url,
    )
    assert poster["type"] == "image/jpeg" and poster["size"] > 1000, poster
    page.assert_clean(console=False)
    print(json.dumps({"mime": mime, "recorded": result["recorded"], "chunks": doc["chunks"]}))


# -- the live view: a second page watches while the first records --------------------------


async def test_a_second_page_watches_the_take_live_then_plays_the_final(
    server: Server, open_page: Callable[[Server], Any], browser: Any
) -> None:
    recorder = await open_page(server)
    await recorder.record_camera()
    await recorder.until("s.acked >= 3")  # a few seconds in: keyframes are stored
    record_id = (await recorder.state())["recordId"]

    watcher = await browser.new_page()
    errors: list[str] = []
    watcher.on("pageerror", lambda exc: errors.append(str(exc)))
    response = await watcher.goto(f"{server.url}/watch/{record_id}")
    assert response is not None and response.status == 200
    await watcher.wait_for_function(
        "() => window.screenrec && window.screenrec.phase === 'live'", timeout=WAIT_MS
    )
    # Frames arrive and play while the take goes on.
    await watcher.wait_for_function(
        "() => { const v = document.querySelector('#watch-player');"
        " return v.readyState >= 2 && v.currentTime > 0.5; }",
        timeout=WAIT_MS,
    )
    at = await watcher.evaluate("() => document.querySelector('#watch-player').currentTime")
    await watcher.wait_for_function(
        f"() => document.querySelector('#watch-player').currentTime > {at} + 1", timeout=WAIT_MS
    )
    await watcher.screenshot(path=str(recorder.shots / f"{recorder.name}-watching-live.png"))

    await recorder.stop_and_wait()
    await watcher.wait_for_function(
        "() => window.screenrec.phase === 'ready'"
        " && document.querySelector('#watch-player').src.includes('final.webm')",
        timeout=60_000,
    )
    await watcher.wait_for_function(
        "() => { const v = document.querySelector('#watch-player');"
        " return v.readyState >= 1 && Number.isFinite(v.duration) && v.duration > 0; }",
        timeout=WAIT_MS,
    )
    assert errors == []
    doc = await status_of(server, record_id)
    assert doc["status"] == "ready" and "liveUrl" not in doc
