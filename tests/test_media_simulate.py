"""simulate's media: the containers and codecs it generates, the combinations it refuses, a
`--media` file that is not a recording, and the checks `--verify` runs on a downloaded final."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from screenrec import media
from screenrec.simulate import SimulateError, SimulateOptions, run
from screenrec.simulate.source import check_final, make_media, measure
from tests.support.samples import make

URL = "http://127.0.0.1:9"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "screenrec"


@pytest.fixture
async def listening() -> AsyncIterator[str]:
    """A TCP port that accepts connections, enough for simulate's reachability check."""
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("container", "codec", "words"),
    [
        ("mp4", "vp8", "--codec vp8 cannot go in --container mp4"),
        ("ogg", "vp8", "--container must be one of webm, mp4"),
        ("webm", "theora", "--codec must be one of vp8, vp9, h264"),
    ],
)
def test_impossible_combinations_are_refused(container: str, codec: str, words: str) -> None:
    with pytest.raises(SimulateError, match=words):
        SimulateOptions(URL, container=container, codec=codec).check()


@pytest.mark.parametrize(
    ("container", "codec", "sniffed", "codecs", "final"),
    [
        ("webm", "vp8", "webm", ("vp8", "opus"), "final.webm"),
        ("webm", "h264", "matroska", ("h264", "opus"), "final.mp4"),
        ("mp4", "h264", "mp4", ("h264", "aac"), "final.mp4"),
        ("mp4", "vp9", "mp4", ("vp9", "opus"), "final.mp4"),
    ],
)
async def test_generated_media_is_what_a_browser_records(
    ffmpeg: str, cache: Path, container: str, codec: str, sniffed: str,
    codecs: tuple[str, str], final: str,
) -> None:  # fmt: skip
    options = SimulateOptions(URL, container=container, codec=codec, duration=1, bitrate=300_000)
    options.check()
    path = await make_media(ffmpeg, options)
    assert path.parent == cache and f"-{container}-{codec}-" in path.name
    head = path.read_bytes()[:65536]
    info = media.read_init(head)
    assert info is not None and info.complete
    assert (info.container, info.video_codec, info.audio_codec) == (sniffed, *codecs)
    if container == "mp4":
        kinds = [kind for kind, _, _ in media.top_level_boxes(path)]
        assert kinds[:2] == ["ftyp", "moov"] and "moof" in kinds and "mfra" not in kinds
    facts = await measure(ffmpeg, path)
    assert facts.frames == 30 and facts.final().file_name == final
    assert await make_media(ffmpeg, options) == path  # cached


async def test_a_media_file_that_is_not_a_recording_is_refused(
    ffmpeg: str, tmp_path: Path, listening: str
) -> None:
    picture = tmp_path / "picture.png"
    args = [ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
            "testsrc2=size=64x64", "-frames:v", "1", str(picture)]  # fmt: skip
    subprocess.run(args, check=True)
    with pytest.raises(SimulateError, match=r"picture\.png: not WebM, Matroska or MP4"):
        await run(SimulateOptions(listening, media=picture))


async def test_verify_checks_the_container_and_the_layout(
    ffmpeg: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    safari = make(ffmpeg, tmp_path_factory, "h264_aac.mp4")
    source = await measure(ffmpeg, safari)
    plan = source.final()
    good = tmp_path / "final.mp4"
    subprocess.run(plan.args(ffmpeg, good, source=str(safari)), check=True)
    url = "http://x/recordings/download/r1%2Ffinal.mp4"
    assert await check_final(ffmpeg, source, good, url) is None
    problem = await check_final(ffmpeg, source, good, url.replace(".mp4", ".webm"))
    assert problem == f"downloadUrl {url.replace('.mp4', '.webm')} does not name final.mp4"
    assert await check_final(ffmpeg, source, safari, url) == (
        "the final MP4 is fragmented or has its moov after the media")  # fmt: skip
    webm = make(ffmpeg, tmp_path_factory, "vp8_opus.webm")
    assert await check_final(ffmpeg, source, webm, url) == "the final is webm, expected mp4"
