"""Real headless Chromium for the media tests, through Playwright's sync API: MediaRecorder
takes recorded from the fake camera and microphone (the blobs as Chromium cut them), and
files played and seeked in a `<video>`, all served over HTTP from 127.0.0.1 by aiohttp."""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

CHROMIUM = os.environ.get("SCREENREC_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]
PAGE = "<!doctype html><meta charset=utf-8><title>media</title><body></body>"
WAIT_MS = 30_000

# Record `ms` milliseconds with MediaRecorder (timeslice 500 ms, a keyframe every second) and
# return each blob as base64; null when Chromium cannot record `mime`.
RECORD = """async ([mime, ms]) => {
  if (!MediaRecorder.isTypeSupported(mime)) return null;
  const video = !mime.startsWith("audio/");
  const stream = await navigator.mediaDevices.getUserMedia(
    {audio: true, video: video && {width: 320, height: 240, frameRate: 30}});
  const recorder = new MediaRecorder(stream, {mimeType: mime, videoKeyFrameIntervalDuration: 1000});
  const blobs = [];
  recorder.ondataavailable = (e) => blobs.push(e.data);
  const stopped = new Promise((ok) => { recorder.onstop = ok; });
  recorder.start(500);
  await new Promise((ok) => setTimeout(ok, ms));
  recorder.stop();
  await stopped;
  stream.getTracks().forEach((t) => t.stop());
  const out = [];
  for (const blob of blobs) {
    const url = await new Promise((ok) => {
      const reader = new FileReader(); reader.onload = () => ok(reader.result);
      reader.readAsDataURL(blob);
    });
    out.push(url.slice(url.indexOf(";base64,") + 8));
  }
  return out;
}"""

# Load `url` in a <video>, then seek to the middle: the duration it reports, where the seek
# landed, how long it took, and the decoded size.
PLAY = """async (url) => {
  const v = document.createElement("video");
  v.muted = true; v.preload = "auto"; document.body.append(v);
  await new Promise((ok, fail) => {
    v.onloadedmetadata = ok;
    v.onerror = () => fail(new Error("cannot play " + url + ": " + (v.error && v.error.message)));
    v.src = url;
  });
  const duration = v.duration;
  const started = performance.now();
  await new Promise((ok) => { v.onseeked = ok; v.currentTime = duration / 2; });
  const seekMs = performance.now() - started;
  const at = v.currentTime;
  await v.play();
  await new Promise((ok) => setTimeout(ok, 300));
  v.pause();
  const seekable = v.seekable.length ? v.seekable.end(0) : 0;
  const played = v.currentTime;
  v.remove();
  return {duration, at, seekMs, played, seekable, width: v.videoWidth};
}"""


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """`folder` over HTTP on 127.0.0.1 (aiohttp's static files answer Range requests, which
    a `<video>` needs to seek), `index.html` an empty page; yields the base URL."""
    (folder / "index.html").write_text(PAGE)
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_static("/", folder)
    runner = web.AppRunner(app)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner.addresses[0][1]

    port = loop.run_until_complete(start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextmanager
def page(folder: Path) -> Iterator[tuple[Any, str]]:
    """A Chromium page open on `folder`'s empty index.html; yields (page, base URL)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium, or set "
                    "SCREENREC_CHROMIUM", pytrace=False)  # fmt: skip
    from playwright.sync_api import sync_playwright

    with serve(folder) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            tab = browser.new_page()
            tab.set_default_timeout(WAIT_MS)
            tab.goto(url + "/index.html")
            yield tab, url
        finally:
            browser.close()


def record(folder: Path, mimes: dict[str, str], seconds: float) -> dict[str, list[bytes]]:
    """A take of `seconds` per name -> MIME type, as the blobs MediaRecorder gave (missing
    when Chromium cannot record that type)."""
    takes = {}
    with page(folder) as (tab, _):
        for name, mime in mimes.items():
            blobs = tab.evaluate(RECORD, [mime, int(seconds * 1000)])
            if blobs is not None:
                takes[name] = [base64.b64decode(blob) for blob in blobs]
    return takes
