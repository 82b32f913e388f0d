"""EBML as browsers and ffmpeg write it: the DocType of the header, the tracks of the init
segment (everything before the first Cluster) and the layout the index needs of it, and the
Segment Duration of a remuxed final."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"\x1a\x45\xdf\xa3"
_EBML, _DOC_TYPE = 0x1A45DFA3, 0x4282
_SEGMENT, _INFO, _TRACKS, _CLUSTER = 0x18538067, 0x1549A966, 0x1654AE6B, 0x1F43B675
_TRACK_ENTRY, _TRACK_TYPE, _CODEC_ID = 0xAE, 0x83, 0x86
_TIMESTAMP_SCALE, _DURATION = 0x2AD7B1, 0x4489
_TRACK_NUMBER, _DEFAULT_DURATION = 0xD7, 0x23E383
# Level-1 elements that may come before the first Cluster, and the global Void and CRC-32.
_INIT_CHILDREN = frozenset({_INFO, _TRACKS, 0x1C53BB6B, 0x1254C367, 0x114D9B74, 0x1043A770,
                            0x1941A469, 0xEC, 0xBF})  # fmt: skip
_TRACK_KINDS = {1: "video", 2: "audio"}
_HEAD_BYTES = 256 * 1024
_MAX_HEADER = 4096  # an EBML header is tens of bytes; a larger size means it is not one
_MAX_INIT_ELEMENT = 1 << 19  # Info, Tracks, Tags before the first Cluster: KBs from recorders
# Matroska CodecID -> ffmpeg's codec name. Anything else is reported as its CodecID.
CODECS = {
    "V_VP8": "vp8",
    "V_VP9": "vp9",
    "V_AV1": "av1",
    "V_MPEG4/ISO/AVC": "h264",
    "V_MPEGH/ISO/HEVC": "hevc",
    "A_OPUS": "opus",
    "A_VORBIS": "vorbis",
    "A_AAC": "aac",
    "A_FLAC": "flac",
    "A_MPEG/L3": "mp3",
    "A_PCM/INT/LIT": "pcm_s16le",
    "A_PCM/FLOAT/IEEE": "pcm_f32le",
}


class Truncated(ValueError):
    """The bytes end inside an element the answer depends on: more bytes may settle it."""


def read_vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at `pos`: (value, position after it).

    Raises Truncated when `data` ends inside it, ValueError when it is not a vint."""
    if pos >= len(data):
        raise Truncated("EBML vint cut short")
    first = data[pos]
    length = 9 - first.bit_length()
    if length > 8:
        raise ValueError("bad EBML vint")
    if pos + length > len(data):
        raise Truncated("EBML vint cut short")
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    return value, pos + length


def read_header(data: bytes, pos: int) -> tuple[int, int | None, int]:
    """The element at `pos`: (id, data size or None when unknown, start of its data)."""
    element, pos = read_vint(data, pos, keep_marker=True)
    if element > 0xFFFFFFFF:
        raise ValueError("EBML id longer than 4 bytes")
    start = pos
    size, pos = read_vint(data, pos, keep_marker=False)
    unknown = size == (1 << (7 * (pos - start))) - 1  # every value bit set: "unknown size"
    return element, None if unknown else size, pos


def children(
    data: bytes, pos: int = 0, end: int | None = None
) -> Iterator[tuple[int, int, int, int]]:
    """The elements of a master element's data `data[pos:end]`, one level down: (id, offset of
    its ID, start of its data, end of its data).

    Raises Truncated when one reaches past `data`, ValueError on an unknown size or a child
    that overruns `end`."""
    end = len(data) if end is None else end
    while pos < end:
        element, size, start = read_header(data, pos)
        if size is None or start + size > end:
            raise ValueError(f"EBML element {element:X} at {pos} overruns its parent")
        if start + size > len(data):
            raise Truncated("EBML element cut short")
        yield element, pos, start, start + size
        pos = start + size


def doc_type(head: bytes) -> str:
    """The DocType of the EBML header at the start of `head` (`webm`, `matroska`, ...).

    Raises Truncated when `head` ends before the answer, ValueError when it is not EBML."""
    element, size, pos = read_header(head, 0)
    if element != _EBML or size is None or size > _MAX_HEADER:
        raise ValueError("not an EBML header")
    end = pos + size
    while pos < end:
        element, child, start = read_header(head, pos)
        if child is None or start + child > end:
            raise ValueError("bad EBML header")
        if element == _DOC_TYPE:
            if start + child > len(head):
                raise Truncated("DocType cut short")
            return head[start : start + child].rstrip(b"\0").decode("ascii", "replace")
        pos = start + child
    return "matroska"  # the specification's default when the header names none


def _uint(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _track(entry: bytes) -> tuple[str, str] | None:
    """(kind, codec) of one TrackEntry's bytes, or None when it is not audio or video."""
    kind = codec = None
    pos = 0
    try:
        while pos < len(entry):
            element, size, start = read_header(entry, pos)
            if size is None or start + size > len(entry):
                break  # cut short here: a partial CodecID would name the wrong codec
            value = entry[start : start + size]
            if element == _TRACK_TYPE:
                kind = _TRACK_KINDS.get(_uint(value))
            elif element == _CODEC_ID:
                codec_id = value.rstrip(b"\0").decode("ascii", "replace")
                aac = codec_id.startswith("A_AAC")  # A_AAC/MPEG4/LC and friends: old names
                codec = CODECS.get(codec_id) or ("aac" if aac else codec_id)
            pos = start + size
    except ValueError:
        pass  # a cut-short entry: what was read so far stands
    return (kind, codec) if kind and codec else None


def read_tracks(head: bytes) -> tuple[list[tuple[str, str]], bool]:
    """The (kind, codec) of each audio and video track in the init segment at the start of
    `head`, and whether the Tracks element was whole in `head`.

    Walks EBML header -> Segment (known or unknown size) -> Tracks -> TrackEntry and stops at
    the first Cluster. Raises ValueError when `head` is not Matroska."""
    try:
        element, size, pos = read_header(head, 0)
        if element != _EBML or size is None:
            raise ValueError("not an EBML header")
        element, size, pos = read_header(head, pos + size)
        if element != _SEGMENT:
            raise ValueError("no Segment after the EBML header")
        end = len(head) if size is None else min(len(head), pos + size)
        while pos < end:
            element, size, start = read_header(head, pos)
            if element == _CLUSTER:
                return [], True  # the init segment ended without Tracks
            if size is None:
                break  # an unknown-size element other than a Cluster: cannot skip it
            if element == _TRACKS:
                whole = start + size <= len(head)
                return _entries(head[start : start + size]), whole
            pos = start + size
    except Truncated:
        pass
    return [], False


def _entries(data: bytes) -> list[tuple[str, str]]:
    """The audio and video tracks of a Tracks element's (possibly cut short) data."""
    found, pos = [], 0
    try:
        while pos < len(data):
            element, size, start = read_header(data, pos)
            if size is None:
                break
            if element == _TRACK_ENTRY and (track := _track(data[start : start + size])):
                found.append(track)
            pos = start + size
    except ValueError:
        pass
    return found


def webm_duration_ms(path: Path) -> int | None:
    """Segment Info Duration of a WebM/Matroska file, read from its first bytes (no ffmpeg run).

    None when the file has no Duration there (a live stream) or is not Matroska."""
    with open(path, "rb") as handle:
        data = handle.read(_HEAD_BYTES)
    try:
        pos, end = 0, len(data)
        scale, duration = 1_000_000, None
        while pos < end:
            element, size, pos = read_header(data, pos)
            if element in (_SEGMENT, _INFO):
                if element == _INFO and size is not None:
                    end = min(end, pos + size)
                continue  # descend: the children follow
            if size is None:
                break
            if element == _TIMESTAMP_SCALE:
                scale = _uint(data[pos : pos + size])
            elif element == _DURATION:
                fmt = ">f" if size == 4 else ">d"
                (duration,) = struct.unpack(fmt, data[pos : pos + size])
            pos += size
    except (ValueError, struct.error):
        return None
    return None if duration is None else round(duration * scale / 1_000_000)


@dataclass(frozen=True, slots=True)
class InitSegment:
    """The layout of an init segment: `end` is the offset of the first Cluster,
    `segment_data` where the Segment's data starts, `segment_size` None when unknown;
    `tracks` is (TrackNumber, TrackType, DefaultDuration in ns or None) in Tracks order."""

    end: int
    segment_data: int
    segment_size: int | None
    timecode_scale: int
    tracks: tuple[tuple[int, int, int | None], ...]


def read_init_segment(head: bytes) -> InitSegment | None:
    """The init segment at the start of `head`, once `head` reaches its first Cluster's ID.

    None while `head` ends before that. Raises ValueError (with the reason) when it is not
    Matroska: no EBML header, no Segment, or an element of unknown or absurd size or one that
    is not level 1 before the first Cluster."""
    try:
        element, size, pos = read_header(head, 0)
        if element != _EBML or size is None or size > _MAX_HEADER:
            raise ValueError("no EBML header: the init segment is missing")
        element, size, pos = read_header(head, pos + size)
        if element != _SEGMENT:
            raise ValueError("no Segment after the EBML header")
        segment_data, segment_size = pos, size
        scale, tracks = 1_000_000, ()
        while True:
            element, size, start = read_header(head, pos)
            if element == _CLUSTER:
                return InitSegment(pos, segment_data, segment_size, scale, tracks)
            if element not in _INIT_CHILDREN or size is None or size > _MAX_INIT_ELEMENT:
                raise ValueError(f"element {element:X} at byte {pos} is not a valid init element")
            if element == _INFO and start + size <= len(head):
                info = {c: _uint(head[a:b]) for c, _, a, b in children(head, start, start + size)}
                scale = info.get(_TIMESTAMP_SCALE) or 1_000_000
            elif element == _TRACKS and start + size <= len(head):
                tracks = tuple(_track_numbers(head, start, start + size))
            pos = start + size
    except Truncated:
        return None


def _track_numbers(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int | None]]:
    """(TrackNumber, TrackType, DefaultDuration or None) of each TrackEntry of a Tracks."""
    for element, _, a, b in children(data, start, end):
        if element == _TRACK_ENTRY:
            fields = {c: _uint(data[x:y]) for c, _, x, y in children(data, a, b)}
            if fields.get(_TRACK_NUMBER):
                kind = fields.get(_TRACK_TYPE, 0)
                yield fields[_TRACK_NUMBER], kind, fields.get(_DEFAULT_DURATION)
