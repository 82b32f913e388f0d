"""The seekable head written from the index, in front of the untouched cluster bytes, on real
streams: the final holds the stream's packets and ffmpeg's Duration, its SeekHead and Cues
point at the right bytes, ffmpeg seeks it, headless Chromium plays and seeks it; and writing
the head takes milliseconds for a 60-minute index."""

from __future__ import annotations

import math
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from screenrec.media import webm
from screenrec.media.webm import webm_duration_ms
from screenrec.media.webm_index import ClusterEntry, WebmIndex, WebmIndexer
from screenrec.media.webm_writer import final_duration_ms, seekable_head
from tests.support import chromium, ebml, takes

NAMES = [*takes.ALL, "long.webm"]
SEEK_HEAD, CUES, VOID, DURATION = 0x114D9B74, 0x1C53BB6B, 0xEC, 0x4489


@dataclass(frozen=True)
class Final:
    """A stream, its index, our final and ffmpeg's remux of it."""

    data: bytes
    index: WebmIndex
    head: bytes
    source: Path
    final: Path
    remux: Path


@pytest.fixture(scope="module")
def finals(ffmpeg: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Final]:
    folder = tmp_path_factory.mktemp("finals")
    made = {}
    for name in NAMES:
        data = takes.stream(ffmpeg, tmp_path_factory, name)
        indexer = WebmIndexer()
        indexer.feed(data)
        index = indexer.finish()
        assert index is not None and index.problem is None
        head = seekable_head(data[: index.init_end], index, len(data))
        source, final = folder / f"source-{name}", folder / f"final-{name}"
        source.write_bytes(data)
        final.write_bytes(head + data[index.init_end :])
        remux = takes.remux(ffmpeg, source, folder / f"remux-{name}")
        made[name] = Final(data, index, head, source, final, remux)
    return made


@pytest.mark.parametrize("name", NAMES)
def test_the_final_has_exactly_the_packets_of_the_stream(
    finals: dict[str, Final], name: str, ffmpeg: str
) -> None:
    made = finals[name]
    ours, source = takes.framemd5(ffmpeg, made.final), takes.framemd5(ffmpeg, made.source)
    remux = takes.framemd5(ffmpeg, made.remux)
    assert ours == source
    if name == "chromium-h264.webm":
        # Chromium writes H.264 as Annex B (start codes); ffmpeg's Matroska muxer rewrites it
        # to length-prefixed NAL units of the same size. Timing and sizes stay the same.
        assert [line.rsplit(",", 1)[0] for line in ours] == [
            line.rsplit(",", 1)[0] for line in remux]  # fmt: skip
        assert ours != remux
    else:
        assert ours == remux


@pytest.mark.parametrize("name", NAMES)
def test_the_final_says_ffmpegs_duration(finals: dict[str, Final], name: str, ffmpeg: str) -> None:
    made = finals[name]
    ours, theirs = takes.header_ms(ffmpeg, made.final), takes.header_ms(ffmpeg, made.remux)
    assert ours is not None and theirs is not None
    assert abs(ours - theirs) <= takes.FRAME_MS, (ours, theirs)
    assert webm_duration_ms(made.final) == final_duration_ms(made.index)
    assert takes.header_ms(ffmpeg, made.source) is None  # a live stream has none


@pytest.mark.parametrize("name", NAMES)
def test_the_head_points_at_the_right_bytes(finals: dict[str, Final], name: str) -> None:
    made = finals[name]
    final = made.final.read_bytes()
    assert final[len(made.head) :] == made.data[made.index.init_end :]
    segment = ebml.segment(final)
    assert segment.size == len(final) - segment.start
    top = segment.children
    ids = [e.id for e in top if e.id != ebml.CLUSTER]
    assert ids.count(SEEK_HEAD) == 1 and ids.count(CUES) == 1 and VOID not in ids
    first_cluster = next(e.offset for e in top if e.id == ebml.CLUSTER)
    assert first_cluster == len(made.head)
    # SeekHead: each Seek names an element found at its position
    seeks = next(e for e in top if e.id == SEEK_HEAD).children
    for seek in seeks:
        seek_id, position = (int.from_bytes(final[c.start : c.end], "big") for c in seek.children)
        assert ebml.walk(final, segment.start + position, len(final))[0].id == seek_id
    assert {int.from_bytes(final[s.children[0].start : s.children[0].end], "big")
            for s in seeks} >= {ebml.INFO, ebml.TRACKS, CUES}  # fmt: skip
    # Info: one Duration, the other children as received
    info = next(e for e in top if e.id == ebml.INFO)
    source_info = next(e for e in ebml.segment(made.data).children if e.id == ebml.INFO)
    kept = [c.id for c in source_info.children if c.id not in (DURATION, VOID, 0xBF)]
    assert [c.id for c in info.children] == [*kept, DURATION]
    # Cues: one CuePoint per keyframe Cluster, at that Cluster, with its first block's time
    clusters = {e.offset: e for e in top if e.id == ebml.CLUSTER}
    cue_points = []
    for point in next(e for e in top if e.id == CUES).children:
        cue_time = ebml.uint(final, point.children[0])
        track, position = (ebml.uint(final, c) for c in point.children[1].children)
        assert track == made.index.cue_track
        cue_points.append((segment.start + position, cue_time))
    shift = len(made.head) - made.index.init_end
    keyframes = [(c.offset + shift, c.cue_time) for c in made.index.clusters if c.keyframe]
    assert cue_points == keyframes and len(keyframes) >= 2
    assert all(at in clusters for at, _ in cue_points)


@pytest.mark.parametrize("name", ["long.webm", "vp9_opus.webm", "unknown-vp8_opus.webm",
                                  "chromium-vp8.webm", "firefox_like.webm"])  # fmt: skip
def test_ffmpeg_seeks_the_final_as_fast_as_its_own(
    finals: dict[str, Final], name: str, ffmpeg: str
) -> None:
    made = finals[name]
    middle = final_duration_ms(made.index) / 2000

    def seek(path: Path) -> float:
        args = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-ss", f"{middle:.3f}",
                "-i", str(path), "-frames:v", "1", "-f", "null", "-"]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, timeout=60)
        return time.perf_counter() - started

    ours = min(seek(made.final) for _ in range(3))
    theirs = min(seek(made.remux) for _ in range(3))
    print(f"{name}: seek to {middle:.1f} s in {ours * 1000:.0f} ms (ffmpeg's remux: "
          f"{theirs * 1000:.0f} ms)")  # fmt: skip
    assert ours < 2 * theirs + 0.2


def test_ffmpeg_reads_unknown_size_clusters_in_a_sized_segment(
    finals: dict[str, Final], ffmpeg: str
) -> None:
    """What ffmpeg makes of Chrome's unknown-size Clusters once the Segment has a size: one
    error-level line for the first such Cluster, and every packet read, even when told to
    fail on errors (`-err_detect explode`)."""
    made = finals["chromium-vp9.webm"]
    log = takes.ffmpeg_log(ffmpeg, made.final)
    assert log.count("Unknown-sized element") == 1 and "inside parent with finite size" in log
    args = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-err_detect", "explode",
            "-i", str(made.final), "-map", "0", "-c", "copy", "-f", "framemd5", "-"]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60)
    packets = [line for line in done.stdout.splitlines() if not line.startswith("#")]
    assert packets == takes.framemd5(ffmpeg, made.source)
    assert takes.ffmpeg_log(ffmpeg, finals["vp9_opus.webm"].final) == ""  # sized: silent


def test_chromium_plays_and_seeks_the_finals(
    finals: dict[str, Final], ffmpeg: str, tmp_path: Path
) -> None:
    names = ["vp8_opus.webm", "vp9_opus.webm", "opus.webm", "firefox_like.webm",
             "unknown-vp8_opus.webm", "unknown-vp9_opus.webm", *takes.CHROMIUM,
             "long.webm"]  # fmt: skip
    for name in names:
        (tmp_path / name).write_bytes(finals[name].final.read_bytes())
    (tmp_path / "live.webm").write_bytes(finals["chromium-vp8.webm"].data)
    with chromium.page(tmp_path) as (page, url):
        for name in names:
            played = page.evaluate(chromium.PLAY, f"{url}/{name}")
            expected = takes.header_ms(ffmpeg, finals[name].remux) / 1000
            print(name, played)
            assert abs(played["duration"] - expected) <= 0.05, (name, played, expected)
            assert abs(played["at"] - played["duration"] / 2) <= 0.1, (name, played)
            assert played["played"] > played["at"] and played["seekable"] == played["duration"]
            assert played["width"] > 0 or "opus.webm" in name
        # the stream as recorded, for contrast: no duration, so no seeking to the middle
        duration = page.evaluate(
            """async (url) => { const v = document.createElement("video"); v.src = url;
               await new Promise((ok) => { v.onloadedmetadata = ok; });
               return String(v.duration); }""",
            f"{url}/live.webm",
        )
        assert duration == "Infinity"


def synthetic_index(init: WebmIndex, minutes: int) -> tuple[WebmIndex, int]:
    """An index for a take of `minutes`: clusters as dense as ffmpeg cuts them (4,620 in 10
    minutes), every one a keyframe (the most Cues a take can need), 1 Mbit/s of stream."""
    count = 462 * minutes
    step_ms, step_bytes = 600_000 / 4620, 125_000 * 600 // 4620
    clusters = tuple(
        ClusterEntry(init.init_end + i * step_bytes, round(i * step_ms), True, round(i * step_ms))
        for i in range(count)
    )
    length = init.init_end + count * step_bytes
    return replace(init, clusters=clusters, end_timecode=minutes * 60_000), length


def test_the_head_takes_milliseconds_at_10_and_60_minutes(finals: dict[str, Final]) -> None:
    made = finals["chromium-vp8.webm"]
    init = made.data[: made.index.init_end]
    for minutes, budget in ((10, 0.1), (60, 0.5)):
        index, length = synthetic_index(made.index, minutes)
        best = math.inf
        for _ in range(5):
            started = time.perf_counter()
            head = seekable_head(init, index, length)
            best = min(best, time.perf_counter() - started)
        print(f"{minutes} min: {len(index.clusters)} CuePoints, head {len(head)} bytes "
              f"in {best * 1000:.1f} ms")  # fmt: skip
        assert best < budget
        _, header, at = webm.read_header(head, 0)
        _, size, data_start = webm.read_header(head, at + header)
        assert size == len(head) - data_start + length - index.init_end


def test_a_head_is_refused_when_the_index_cannot_be_trusted(finals: dict[str, Final]) -> None:
    made = finals["vp8_opus.webm"]
    init = made.data[: made.index.init_end]
    with pytest.raises(ValueError, match="stopped early"):
        seekable_head(init, replace(made.index, problem="garbage (at byte 9)"), len(made.data))
    with pytest.raises(ValueError, match="do not match"):
        seekable_head(init[:-1], made.index, len(made.data))
    with pytest.raises(ValueError, match="do not match"):
        seekable_head(init, replace(made.index, clusters=()), len(made.data))
