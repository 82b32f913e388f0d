"""Container sniffing and init-segment parsing on real ffmpeg-made recordings, and on bytes
that are not recordings: random bytes, images, empty and truncated headers."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from screenrec import media
from screenrec.media import Container, mp4
from tests.support.samples import SAMPLES, make, with_doc_type

CLUSTER = b"\x1f\x43\xb6\x75"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00"
NOT_MEDIA = {
    "png": PNG,
    "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01",
    "gif": b"GIF89a\x01\x00\x01\x00\x80\x00\x00",
    "wav": b"RIFF\x24\x00\x00\x00WAVEfmt ",
    "text": b"hello, this is not a recording at all",
    "heic image": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
    "ebml, other doctype": b"\x1a\x45\xdf\xa3\x87\x42\x82\x84abcd",
    "ebml, absurd header size": b"\x1a\x45\xdf\xa3\x01\x00\x00\x00\x00\x10\x00\x00",
    "ftyp size too small": b"\x00\x00\x00\x04ftypisom\x00\x00\x02\x00",
}


@pytest.fixture(scope="module")
def samples(ffmpeg: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return {name: make(ffmpeg, tmp_path_factory, name).read_bytes() for name in SAMPLES}


def init_length(data: bytes) -> int:
    """Where the init segment ends: the first Cluster, or the end of `moov`."""
    if data.startswith(media.webm.MAGIC):
        return data.index(CLUSTER)
    return next(end for kind, _, end in mp4.boxes(data) if kind == b"moov")


def decided_at(data: bytes) -> int:
    """The shortest prefix of `data` that names its container."""
    return next(n for n in range(len(data)) if media.sniff(data[:n]) is not None)


@pytest.mark.parametrize("name", SAMPLES)
def test_container_and_codecs_from_the_first_chunk(samples: dict[str, bytes], name: str) -> None:
    sample, data = SAMPLES[name], samples[name]
    for first in (init_length(data), init_length(data) + 777, 64 * 1024):
        info = media.read_init(data[:first])
        assert info is not None, first
        assert (info.container, info.video_codec, info.audio_codec) == (
            sample.container, sample.video, sample.audio)  # fmt: skip
        assert info.complete, first
        assert media.sniff(data[:first]) == sample.container
        assert not media.needs_more(data[:first])


@pytest.mark.parametrize("name", ["vp8_opus.webm", "h264_opus.mkv", "h264_aac.mp4"])
def test_a_first_chunk_cut_inside_the_init_segment_says_so(
    samples: dict[str, bytes], name: str
) -> None:
    data = samples[name]
    whole = media.read_init(data[: init_length(data)])
    assert whole is not None
    seen_partial, completed = False, None
    for first in range(decided_at(data), init_length(data) + 1):
        info = media.read_init(data[:first])
        assert info is not None
        if info.complete:  # Tracks whole: the answer, and it stays so with more bytes
            assert info.tracks == whole.tracks, first
            completed = completed or first
        else:
            assert completed is None and set(info.tracks) <= set(whole.tracks), first
            seen_partial |= 0 < len(info.tracks) < len(whole.tracks)
    assert completed is not None and completed > decided_at(data)
    assert seen_partial or name.endswith(".mp4")  # EBML tracks come one entry at a time


def test_chrome_labels_h264_in_matroska_webm(samples: dict[str, bytes]) -> None:
    chrome = with_doc_type(samples["h264_opus.mkv"], b"webm")
    info = media.read_init(chrome[:4096])
    assert info is not None
    assert (info.container, info.video_codec, info.audio_codec) == ("webm", "h264", "opus")


@pytest.mark.parametrize("name", ["vp8_opus.webm", "h264_opus.mkv", "h264_aac.mp4"])
def test_every_prefix_of_a_header_needs_more_and_never_misleads(
    samples: dict[str, bytes], name: str
) -> None:
    data = samples[name]
    decided = decided_at(data)
    assert 4 < decided <= 64
    for n in range(decided):
        assert media.sniff(data[:n]) is None and media.needs_more(data[:n]), n
    assert media.sniff(data[:decided]) == SAMPLES[name].container


@pytest.mark.parametrize("name", NOT_MEDIA)
def test_not_media_is_refused_at_once(name: str) -> None:
    head = NOT_MEDIA[name]
    assert media.sniff(head) is None
    assert media.read_init(head) is None
    assert not media.needs_more(head)


def test_random_bytes_are_not_media() -> None:
    rng = random.Random(12)
    for _ in range(2000):
        head = rng.randbytes(rng.choice([12, 64, 4096]))
        assert media.sniff(head) is None and not media.needs_more(head)


def test_random_bytes_after_a_real_header_do_not_crash(samples: dict[str, bytes]) -> None:
    rng = random.Random(5)
    for name, data in samples.items():
        for _ in range(50):
            cut = rng.randrange(12, 200)
            head = data[:cut] + rng.randbytes(rng.randrange(0, 2000))
            info = media.read_init(head)
            assert info is None or info.container == SAMPLES[name].container


def test_empty_and_magic_only_need_more() -> None:
    for head in (b"", b"\x1a", b"\x1a\x45\xdf", media.webm.MAGIC, b"\x00", b"\x00\x00\x00\x20"):
        assert media.sniff(head) is None and media.needs_more(head), head
    assert media.read_init(b"") is None


def test_mp4_layout_of_a_fragmented_recording(samples: dict[str, bytes], tmp_path: Path) -> None:
    path = tmp_path / "safari.mp4"
    path.write_bytes(samples["h264_aac.mp4"])
    kinds = [kind for kind, _, _ in media.top_level_boxes(path)]
    assert kinds[:2] == ["ftyp", "moov"] and "moof" in kinds and "mfra" not in kinds
    boxes = media.top_level_boxes(path)
    assert sum(size for _, _, size in boxes) == path.stat().st_size
    assert all(a[1] + a[2] == b[1] for a, b in itertools.pairwise(boxes))  # back to back
    assert media.mp4_duration_ms(path) is None  # an empty moov declares no duration
    assert Container.MP4.is_ebml is False and Container.MATROSKA.is_ebml


def element(element_id: int, body: bytes) -> bytes:
    """One EBML element with a 1-byte (or 2-byte) size."""
    size = bytes([0x80 | len(body)]) if len(body) < 0x7F else (0x4000 | len(body)).to_bytes(2)
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + size + body


def test_hand_made_init_with_unknown_sizes_and_codec_before_type() -> None:
    unknown = b"\x01\xff\xff\xff\xff\xff\xff\xff"
    header = element(0x1A45DFA3, element(0x4286, b"\x01") + element(0x4282, b"webm"))
    video = element(0xAE, element(0x86, b"V_VP9") + element(0x83, b"\x01"))  # CodecID first
    audio = element(0xAE, element(0x83, b"\x02") + element(0x86, b"A_OPUS"))
    tracks = element(0x1654AE6B, video + audio)
    cluster = b"\x1f\x43\xb6\x75" + unknown + element(0xE7, b"\x00")
    data = header + b"\x18\x53\x80\x67" + unknown + element(0xEC, b"\0" * 9) + tracks + cluster
    whole = media.read_init(data)
    assert whole is not None and whole.complete
    assert (whole.video_codec, whole.audio_codec) == ("vp9", "opus")
    for n in range(decided_at(data), len(data)):
        info = media.read_init(data[:n])
        assert info is not None and set(info.tracks) <= set(whole.tracks), n  # never "V_VP"
        assert info.complete == (n >= data.index(cluster)), n  # Tracks whole
