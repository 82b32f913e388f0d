"""The incremental WebM index on real streams (ffmpeg's live WebM and Matroska, the same with
Chrome's unknown-size Clusters, a Firefox-like take with BlockGroups, real Chromium takes),
cut at every byte, at random offsets and where Chromium cut them; and on bad bytes."""

from __future__ import annotations

import itertools
import random
import time
import tracemalloc
from pathlib import Path

import pytest

from screenrec.media.webm_index import WebmIndex, WebmIndexer
from tests.support import ebml, takes
from tests.support.ebml import reference


@pytest.fixture(scope="module")
def streams(ffmpeg: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    names = [*takes.ALL, "tiny.webm", "unknown-tiny.webm", "long.webm"]
    return {name: takes.stream(ffmpeg, tmp_path_factory, name) for name in names}


def index_of(pieces: list[bytes]) -> WebmIndex | None:
    indexer = WebmIndexer()
    for piece in pieces:
        indexer.feed(piece)
    return indexer.finish()


def whole(data: bytes) -> WebmIndex:
    found = index_of([data])
    assert found is not None
    return found


def random_cuts(data: bytes, count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    bounds = [0, *sorted(rng.sample(range(1, len(data)), count)), len(data)]
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    pieces.insert(rng.randrange(len(pieces)), b"")  # recorders send empty chunks too
    return pieces


@pytest.mark.parametrize("name", [*takes.ALL, "long.webm"])
def test_the_index_matches_a_whole_file_parse(streams: dict[str, bytes], name: str) -> None:
    data = streams[name]
    found = whole(data)
    cue_track = ebml.cue_track(data)  # Chromium numbers first the track whose data came first
    ref = reference(data, cue_track)
    assert found.problem is None
    assert (found.init_end, found.cue_track, found.timecode_scale) == (
        ref.init_end, cue_track, 1_000_000)  # fmt: skip
    assert data[found.segment_data_offset - 12 : found.segment_data_offset - 8] == (
        b"\x18\x53\x80\x67")  # fmt: skip
    got = [(c.offset, c.timecode, c.keyframe, c.cue_time) for c in found.clusters]
    assert got == ref.clusters
    assert found.clusters[0].keyframe and found.parsed_to == len(data)


@pytest.mark.parametrize("name", [*takes.ALL, "long.webm"])
def test_end_timecode_is_ffmpegs_duration_within_a_frame(
    streams: dict[str, bytes], name: str, ffmpeg: str, tmp_path: Path
) -> None:
    source = tmp_path / name
    source.write_bytes(streams[name])
    remuxed = takes.header_ms(ffmpeg, takes.remux(ffmpeg, source, tmp_path / f"remux-{name}"))
    assert remuxed is not None
    assert abs(whole(streams[name]).end_timecode - remuxed) <= takes.FRAME_MS, remuxed


@pytest.mark.parametrize("name", [*takes.ALL, "tiny.webm", "unknown-tiny.webm"])
def test_the_index_is_the_same_wherever_the_stream_is_cut(
    streams: dict[str, bytes], name: str
) -> None:
    data = streams[name]
    expected = whole(data)
    assert index_of([data[i : i + 1] for i in range(len(data))]) == expected
    for seed in range(25):
        count = random.Random(seed).choice([2, 7, 40, 300])
        assert index_of(random_cuts(data, count, seed)) == expected, seed


@pytest.mark.parametrize("name", list(takes.CHROMIUM))
def test_chromiums_own_blobs_index_like_the_whole_take(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    parts = takes.blobs(tmp_path_factory, name)
    assert len(parts) >= 5  # 3 s at a 500 ms timeslice
    assert index_of(parts) == whole(b"".join(parts))


@pytest.mark.parametrize("name", ["tiny.webm", "unknown-tiny.webm"])
def test_every_two_piece_split_of_a_small_take(streams: dict[str, bytes], name: str) -> None:
    data = streams[name]
    expected = whole(data)
    assert len(data) < 40_000 and len(expected.clusters) >= 2
    for cut in range(len(data) + 1):
        assert index_of([data[:cut], data[cut:]]) == expected, cut


def test_the_index_so_far_while_the_stream_arrives(streams: dict[str, bytes]) -> None:
    data = streams["unknown-vp8_opus.webm"]
    expected = whole(data)
    indexer = WebmIndexer()
    indexer.feed(data[: expected.init_end - 1])
    assert indexer.index is None and indexer.problem is None
    seen, fed = 0, expected.init_end - 1
    for piece in random_cuts(data[expected.init_end - 1 :], 50, 3):
        indexer.feed(piece)
        fed += len(piece)
        now = indexer.index
        assert now is not None and now.problem is None
        assert len(now.clusters) >= seen  # clusters only ever get added
        seen = len(now.clusters)
        # every entry but the last is final; the last may still learn its keyframe flag
        assert now.clusters[:-1] == expected.clusters[: len(now.clusters) - 1]
        assert now.parsed_to <= fed  # less while a block payload is still arriving
    assert indexer.finish() == expected


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vp8_opus.webm", "unknown-vp9_opus.webm", "firefox_like.webm"])
def test_a_truncated_stream_keeps_its_clusters_and_says_so(
    streams: dict[str, bytes], name: str
) -> None:
    data = streams[name]
    full = whole(data)
    for cut in [full.clusters[2].offset + 2, full.clusters[-1].offset + 900, len(data) - 50]:
        found = index_of(random_cuts(data[:cut], 9, cut))
        assert found is not None and found.problem is not None, cut
        assert "ends inside" in found.problem
        listed = [c.offset for c in full.clusters if c.offset + 16 <= cut]  # Timecode read
        assert [c.offset for c in found.clusters] == listed
        assert found.clusters[:-1] == full.clusters[: len(listed) - 1]
        assert found.parsed_to <= cut
        assert found.end_timecode <= full.end_timecode


def test_a_stream_cut_before_its_first_cluster_has_no_index(streams: dict[str, bytes]) -> None:
    data = streams["vp8_opus.webm"]
    indexer = WebmIndexer()
    indexer.feed(data[:300])
    indexer.feed(b"")
    assert indexer.finish() is None
    assert indexer.problem is not None and "before a Cluster" in indexer.problem


@pytest.mark.parametrize("name", ["vp8_opus.webm", "unknown-vp8_opus.webm", "chromium-vp9.webm"])
def test_garbage_after_a_valid_stream_stops_the_index_at_the_last_cluster(
    streams: dict[str, bytes], name: str
) -> None:
    data = streams[name]
    full = whole(data)
    garbage = random.Random(5).randbytes(200_000)
    for tail in [garbage, b"\x00" * 1000, b"hello, world" * 100]:
        found = index_of(random_cuts(data + tail, 20, len(tail)))
        assert found is not None and found.problem is not None, tail[:20]
        assert found.clusters == full.clusters
        assert found.parsed_to >= len(data)


def _block_size_at(data: bytes, nth_cluster: int) -> int:
    """The offset of the size field of the second SimpleBlock in a Cluster."""
    cluster = [e for e in ebml.segment(data).children if e.id == ebml.CLUSTER][nth_cluster]
    blocks = [e for e in cluster.children if e.id == ebml.SIMPLE_BLOCK]
    return blocks[1].offset + 1


@pytest.mark.parametrize(
    ("name", "size_field"),
    [
        ("vp8_opus.webm", b"\x00"),  # not a vint
        ("unknown-vp8_opus.webm", b"\x01\x40\x00\x00\x00\x00\x00\x00"),  # 16 PiB
        ("vp9_opus.webm", b"\x10\x00\xff\xff"),  # past its sized Cluster
        ("unknown-opus.webm", b"\x7f\xff"),  # a 2-byte unknown size on a block
    ],
)
def test_a_corrupt_size_stops_the_index_at_the_last_good_cluster(
    streams: dict[str, bytes], name: str, size_field: bytes
) -> None:
    data = streams[name]
    full = whole(data)
    at = _block_size_at(data, 2)
    corrupt = data[:at] + size_field + data[at + len(size_field) :]
    bytewise = [corrupt[i : i + 1] for i in range(at + 20)]
    for pieces in ([corrupt], random_cuts(corrupt, 30, 1), bytewise):
        indexer = WebmIndexer()
        for piece in pieces:
            indexer.feed(piece)
        found = indexer.index
        assert found is not None and found.problem is not None, pieces[0][:10]
        assert found.clusters[:2] == full.clusters[:2]  # the third's first video block is lost
        assert found.clusters[2].offset == full.clusters[2].offset and len(found.clusters) == 3
        assert full.clusters[2].offset < found.parsed_to <= at


@pytest.mark.parametrize("start", ["second cluster", "garbage", "png"])
def test_a_stream_without_its_init_segment_is_refused(
    streams: dict[str, bytes], start: str
) -> None:
    data = streams["unknown-vp8_opus.webm"]
    bodies = {
        "second cluster": data[whole(data).clusters[1].offset :],
        "garbage": random.Random(2).randbytes(100_000),
        "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(1000),
    }
    indexer = WebmIndexer()
    for piece in random_cuts(bodies[start], 10, 4):
        indexer.feed(piece)
    assert indexer.problem is not None and indexer.index is None


def peak_memory(pieces: list[bytes]) -> tuple[int, WebmIndexer]:
    """The most memory that feeding `pieces` (already in memory) ever held at once."""
    indexer = WebmIndexer()
    tracemalloc.start()
    try:
        for piece in pieces:
            indexer.feed(piece)
        return tracemalloc.get_traced_memory()[1], indexer
    finally:
        tracemalloc.stop()


def in_pieces(data: bytes, size: int = 65_536) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_memory_stays_flat_on_a_long_take_and_on_garbage(streams: dict[str, bytes]) -> None:
    data = streams["long.webm"]
    for stream in (data, data + random.Random(9).randbytes(4_000_000)):
        peak, indexer = peak_memory(in_pieces(stream))
        assert indexer.index is not None
        # the clusters list grows with the take (~100 bytes a cluster); nothing else does
        assert peak < 100_000 + 200 * len(indexer.index.clusters), peak


def test_an_init_segment_that_never_ends_is_given_up_at_a_bound(
    streams: dict[str, bytes],
) -> None:
    head = streams["vp8_opus.webm"][:48]  # EBML header and Segment header
    void = b"\xec\x24\x00\x00" + bytes(0x40000)  # 256 KiB Voids, before any Cluster
    peak, indexer = peak_memory(in_pieces(head + void * 40))
    assert indexer.problem is not None and "no Cluster" in indexer.problem
    assert peak < 4_000_000  # the init segment is read whole, up to 1 MiB


def test_feeding_costs_well_under_a_millisecond_per_megabyte(streams: dict[str, bytes]) -> None:
    data = streams["long.webm"]  # 20 s of 1 Mbit/s VP8 + Opus, ~2.7 MB
    second = 125_000  # a 1 s chunk at 1 Mbit/s
    pieces = [data[i : i + second] for i in range(0, len(data), second)]
    best = float("inf")
    for _ in range(5):
        indexer = WebmIndexer()
        started = time.perf_counter()
        for piece in pieces:
            indexer.feed(piece)
        best = min(best, time.perf_counter() - started)
    per_mb = best * 1e6 / (len(data) / 1e6)
    print(f"feed: {per_mb:.0f} us/MB, {best * 1e6 / len(pieces):.0f} us per 1 s chunk")
    assert per_mb < 5_000  # measured 460-540 us/MB on 2 shared cores
