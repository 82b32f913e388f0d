"""ISO BMFF (MP4) boxes: the tracks of an init segment (`moov`), and the top-level layout and
`mvhd` duration of a final."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

# Sample entry fourcc -> ffmpeg's codec name. Anything else is reported as its fourcc.
CODECS = {
    "avc1": "h264",
    "avc3": "h264",
    "hvc1": "hevc",
    "hev1": "hevc",
    "vp08": "vp8",
    "vp09": "vp9",
    "av01": "av1",
    "mp4a": "aac",
    "Opus": "opus",
    "fLaC": "flac",
    "ac-3": "ac3",
    "ec-3": "eac3",
}
_HANDLERS = {b"vide": "video", b"soun": "audio"}
_MAX_MOOV = 256 * 1024 * 1024  # a 10-minute final's moov is ~100 KB; beyond this, not ours


class Truncated(ValueError):
    """The bytes end inside a box header: more bytes may settle it."""


def box_header(data: bytes, pos: int) -> tuple[bytes, int, int | None]:
    """The box at `pos`: (type, start of its payload, end or None when it runs to the end).

    Raises Truncated when the header is cut short, ValueError when its size is impossible."""
    if pos + 8 > len(data):
        raise Truncated("box header cut short")
    size, kind = struct.unpack_from(">I4s", data, pos)
    start = pos + 8
    if size == 1:  # a 64-bit size follows the type
        if pos + 16 > len(data):
            raise Truncated("box header cut short")
        (size,) = struct.unpack_from(">Q", data, pos + 8)
        start = pos + 16
    elif size == 0:
        return kind, start, None
    if size < start - pos:
        raise ValueError(f"box {kind!r} smaller than its header")
    return kind, start, pos + size


def boxes(data: bytes, pos: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, end) of each box in data[pos:end]; ends quietly where the bytes do.
    A box's end may lie beyond the data when it is cut short."""
    end = len(data) if end is None else min(end, len(data))
    while pos < end:
        try:
            kind, start, box_end = box_header(data, pos)
        except ValueError:
            return
        box_end = len(data) if box_end is None else box_end
        yield kind, start, box_end
        pos = box_end


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """(payload start, end) of the first `kind` box among data[start:end]."""
    return next(((s, e) for k, s, e in boxes(data, start, end) if k == kind), None)


def _path(data: bytes, start: int, end: int, *kinds: bytes) -> tuple[int, int] | None:
    """(payload start, end) of the box found by walking down `kinds` from data[start:end]."""
    span: tuple[int, int] | None = (start, end)
    for kind in kinds:
        if span is None:
            return None
        span = _child(data, span[0], span[1], kind)
    return span


def _track(data: bytes, start: int, end: int) -> tuple[str, str] | None:
    """(kind, codec) of one `trak`, or None when it is not audio or video (or cut short)."""
    hdlr = _path(data, start, end, b"mdia", b"hdlr")
    stsd = _path(data, start, end, b"mdia", b"minf", b"stbl", b"stsd")
    if hdlr is None or stsd is None:
        return None
    kind = _HANDLERS.get(data[hdlr[0] + 8 : hdlr[0] + 12])  # version+flags, pre_defined
    entry = stsd[0] + 8  # version+flags, entry_count, then the first sample entry box
    if kind is None or entry + 8 > len(data):
        return None
    fourcc = data[entry + 4 : entry + 8].decode("latin-1")
    return kind, CODECS.get(fourcc, fourcc)


def read_tracks(head: bytes) -> tuple[list[tuple[str, str]], bool]:
    """The (kind, codec) of each audio and video track in the `moov` of `head`, and whether that
    `moov` was whole in `head`. Walks moov/trak/mdia (hdlr; minf/stbl/stsd sample entry).
    A `moov` after media (`moof`/`mdat` first) is not an init segment: ([], False)."""
    for kind, start, end in boxes(head):
        if kind in (b"moof", b"mdat"):
            break
        if kind == b"moov":
            clipped = min(end, len(head))
            tracks = [t for k, s, e in boxes(head, start, clipped) if k == b"trak"
                      if (t := _track(head, s, min(e, clipped)))]  # fmt: skip
            return tracks, end <= len(head)
    return [], False


def top_level_boxes(path: Path) -> list[tuple[str, int, int]]:
    """(type, offset, size) of each top-level box of an MP4 file, read by seeking."""
    found: list[tuple[str, int, int]] = []
    with open(path, "rb") as handle:
        total = handle.seek(0, 2)
        pos = 0
        while pos + 8 <= total:
            handle.seek(pos)
            header = handle.read(16)
            try:
                kind, _, end = box_header(header, 0)
            except Truncated:
                break
            except ValueError:
                break  # not a box: the rest is not MP4
            size = (total if end is None else pos + end) - pos
            found.append((kind.decode("latin-1"), pos, size))
            pos += size
    return found


def moov_before_mdat(path: Path) -> bool:
    """True when the file's `moov` comes before its first `mdat` (a faststart MP4)."""
    kinds = [kind for kind, _, _ in top_level_boxes(path)]
    return "moov" in kinds and "mdat" in kinds and kinds.index("moov") < kinds.index("mdat")


def mp4_duration_ms(path: Path) -> int | None:
    """`mvhd` duration / timescale of an MP4 file, in ms (no ffmpeg run).

    None when there is no `moov`, or its duration is 0 or unknown (a fragmented MP4)."""
    moov = next(((o, s) for k, o, s in top_level_boxes(path) if k == "moov"), None)
    if moov is None or moov[1] > _MAX_MOOV:
        return None
    with open(path, "rb") as handle:
        handle.seek(moov[0])
        data = handle.read(moov[1])
    mvhd = _path(data, 0, len(data), b"moov", b"mvhd")
    if mvhd is None:
        return None
    start, end = mvhd
    try:
        if data[start] == 1:  # version 1: 64-bit times and duration
            timescale, duration = struct.unpack_from(">IQ", data, start + 20)
            unknown = 0xFFFFFFFFFFFFFFFF
        else:
            timescale, duration = struct.unpack_from(">II", data, start + 12)
            unknown = 0xFFFFFFFF
    except (struct.error, IndexError):
        return None
    if start + 4 > end or not timescale or duration in (0, unknown):
        return None
    return round(duration * 1000 / timescale)
