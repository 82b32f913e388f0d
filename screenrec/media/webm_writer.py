"""The seekable head of a WebM final, written from the stream's index with no pass over the
media: EBML header, a Segment of known size, SeekHead, Info with Duration, Tracks and Cues, to
put in front of the untouched cluster bytes (`head + stream[index.init_end:stream_length]`)."""

from __future__ import annotations

import struct

from screenrec.media import webm
from screenrec.media.webm_index import WebmIndex

_SEGMENT, _INFO, _TRACKS = 0x18538067, 0x1549A966, 0x1654AE6B
_SEEK_HEAD, _CUES, _VOID, _CRC32, _DURATION = 0x114D9B74, 0x1C53BB6B, 0xEC, 0xBF, 0x4489
# Level-1 elements of the init segment that would point at wrong places in the final.
_DROPPED = frozenset({_SEEK_HEAD, _CUES, _VOID, _CRC32})
_ID_BYTES = {
    _SEGMENT: b"\x18\x53\x80\x67", _INFO: b"\x15\x49\xa9\x66", _TRACKS: b"\x16\x54\xae\x6b",
    _SEEK_HEAD: b"\x11\x4d\x9b\x74", _CUES: b"\x1c\x53\xbb\x6b",
}  # fmt: skip


def seekable_head(init: bytes, index: WebmIndex, stream_length: int) -> bytes:
    """Everything a seekable final puts before its first Cluster, for the stream whose first
    `index.init_end` bytes are `init` and whose length is `stream_length`.

    The EBML header as received; a Segment whose size is the real one (8-byte size field);
    a SeekHead pointing at Info, Tracks, the other kept level-1 elements and Cues (8-byte
    positions); Info with a Duration (a float in TimecodeScale units, `index.end_timecode`;
    one already there is replaced, its other children kept); Tracks and any Tags, Chapters
    or Attachments as received; then Cues with one CuePoint per keyframe Cluster (CueTime,
    CueTrack, CueClusterPosition relative to the Segment's data start, 8 bytes wide). A
    SeekHead, Cues, Void or CRC-32 found in `init` is dropped. Cluster bytes stay as they
    are, unknown-size Clusters included.

    Raises ValueError when the index had a problem, has no Cluster, or does not match
    `init` or `stream_length`."""
    if index.problem is not None:
        raise ValueError(f"the index stopped early: {index.problem}")
    if len(init) != index.init_end or stream_length < index.init_end or not index.clusters:
        raise ValueError("the init segment, the stream length and the index do not match")
    _, size, start = webm.read_header(init, 0)
    header_end = start + (size or 0)
    segment, _, data_start = webm.read_header(init, header_end)
    if segment != _SEGMENT or data_start != index.segment_data_offset:
        raise ValueError("no Segment where the index found one")
    kept: list[tuple[int, bytes]] = []
    for element, offset, _, end in webm.children(init, data_start):
        if element == _INFO:
            kept.append((_INFO, _info(init, offset, end, index.end_timecode)))
        elif element not in _DROPPED:
            kept.append((element, init[offset:end]))
    if not any(element == _INFO for element, _ in kept):
        kept.insert(0, (_INFO, _info(b"", 0, 0, index.end_timecode)))
    points = _cue_points(index, stream_length)
    cued = [(element, 0) for element, _ in kept] + [(_CUES, 0)] * bool(points)
    seek_head_size = len(_seek_head(cued))
    before_cues = seek_head_size + sum(len(body) for _, body in kept)
    body_size = sum(len(prefix) + 8 for prefix, _ in points)
    cues_size = 4 + len(_size(body_size)) + body_size if points else 0
    clusters_at = before_cues + cues_size  # the first Cluster, from the Segment's data start
    cues = _cues(points, clusters_at - index.init_end)
    positions, at = [], seek_head_size
    for element, body in kept:
        positions.append((element, at))
        at += len(body)
    seek_head = _seek_head(positions + [(_CUES, before_cues)] * bool(cues))
    assert len(seek_head) == seek_head_size and len(cues) == cues_size  # fixed widths
    segment_size = clusters_at + stream_length - index.init_end
    return b"".join([
        init[:header_end], _ID_BYTES[_SEGMENT], b"\x01" + segment_size.to_bytes(7, "big"),
        seek_head, *(body for _, body in kept), cues,
    ])  # fmt: skip


def final_duration_ms(index: WebmIndex) -> int:
    """The final's duration in milliseconds, as its Info Duration says."""
    return round(index.end_timecode * index.timecode_scale / 1_000_000)


def _size(length: int) -> bytes:
    """The shortest EBML size field for `length` (all-ones values are reserved: unknown)."""
    for width in range(1, 9):
        if length < (1 << (7 * width)) - 1:
            return ((1 << (7 * width)) | length).to_bytes(width, "big")
    raise ValueError("EBML element too large")


def _element(element_id: bytes, body: bytes) -> bytes:
    return element_id + _size(len(body)) + body


def _uint(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _info(init: bytes, offset: int, end: int, duration: float) -> bytes:
    """Info with `duration` as its Duration (8-byte float), its other children kept."""
    children = b""
    if end:
        _, _, start = webm.read_header(init, offset)
        children = b"".join(
            init[child_at:child_end]
            for child, child_at, _, child_end in webm.children(init, start, end)
            if child not in (_DURATION, _VOID, _CRC32)
        )
    return _element(_ID_BYTES[_INFO], children + b"\x44\x89\x88" + struct.pack(">d", duration))


def _seek_head(positions: list[tuple[int, int]]) -> bytes:
    """A SeekHead with one Seek (SeekID, 8-byte SeekPosition) per (element, position)."""
    seeks = b"".join(
        _element(b"\x4d\xbb", _element(b"\x53\xab", _uint(element)) + b"\x53\xac\x88"
                 + position.to_bytes(8, "big"))
        for element, position in positions
    )  # fmt: skip
    return _element(_ID_BYTES[_SEEK_HEAD], seeks)


def _cue_points(index: WebmIndex, stream_length: int) -> list[tuple[bytes, int]]:
    """A CuePoint for each keyframe Cluster before `stream_length`, as (its bytes up to the
    8-byte CueClusterPosition, the Cluster's stream offset)."""
    track = b"\xf7" + _size(len(_uint(index.cue_track))) + _uint(index.cue_track)
    positions = b"\xb7" + _size(len(track) + 10) + track + b"\xf1\x88"
    points = []
    for cluster in index.clusters:
        if cluster.keyframe and cluster.offset < stream_length:
            time = _uint(max(cluster.cue_time, 0))
            body = 2 + len(time) + len(positions) + 8
            prefix = b"\xbb" + _size(body) + b"\xb3" + _size(len(time)) + time + positions
            points.append((prefix, cluster.offset))
    return points


def _cues(points: list[tuple[bytes, int]], shift: int) -> bytes:
    """Cues of `points`, each Cluster at its stream offset plus `shift`; empty when there is
    no point (Cues needs a CuePoint)."""
    if not points:
        return b""
    body = b"".join(prefix + (offset + shift).to_bytes(8, "big") for prefix, offset in points)
    return _element(_ID_BYTES[_CUES], body)
