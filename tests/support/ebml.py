"""A slow, whole-file EBML walker for tests: the reference the incremental index is checked
against (clusters, their timecodes, keyframes), a dump for reading files, and the rewrite that
makes every Cluster unknown-size as Chrome writes them. Written independently of
`screenrec.media.webm_index`, on purpose: only `webm.read_header` is shared."""

from __future__ import annotations

from dataclasses import dataclass, field

from screenrec.media import webm

SEGMENT, CLUSTER, INFO, TRACKS = 0x18538067, 0x1F43B675, 0x1549A966, 0x1654AE6B
TIMECODE, SIMPLE_BLOCK, BLOCK_GROUP, BLOCK, REFERENCE = 0xE7, 0xA3, 0xA0, 0xA1, 0xFB
BLOCK_DURATION = 0x9B
# Level-1 elements: they end an unknown-size Cluster.
TOP = {0x1F43B675, 0x1C53BB6B, 0x1254C367, 0x114D9B74, 0x1549A966, 0x1654AE6B, 0x1043A770,
       0x1941A469}  # fmt: skip
MASTERS = {SEGMENT, CLUSTER, INFO, TRACKS, BLOCK_GROUP, 0xAE, 0x1C53BB6B, 0xBB, 0xB7,
           0x114D9B74, 0x4DBB, 0xE0, 0xE1}  # fmt: skip


@dataclass
class Element:
    """One element: ID, offset of its ID, offset of its data, data size (None: unknown), the
    end of its bytes, and its children when it is a master element."""

    id: int
    offset: int
    start: int
    size: int | None
    end: int
    children: list[Element] = field(default_factory=list)


def walk(data: bytes, pos: int = 0, end: int | None = None, parent: int | None = None) -> list:
    """Every element from `pos` to `end` (or to the end of `data`), masters opened; an
    unknown-size Cluster ends at the next level-1 ID, an unknown-size Segment at the end."""
    end = len(data) if end is None else end
    found: list[Element] = []
    while pos < end:
        element, size, start = webm.read_header(data, pos)
        if parent == CLUSTER and element in TOP:
            break  # an unknown-size Cluster ends here
        stop = end if size is None else start + size
        item = Element(element, pos, start, size, stop)
        if element in MASTERS:
            item.children = walk(data, start, stop, element)
            if item.children:
                item.end = max(stop if size is not None else 0, item.children[-1].end)
        found.append(item)
        pos = item.end
    return found


def uint(data: bytes, element: Element) -> int:
    """The value of an unsigned integer element."""
    return int.from_bytes(data[element.start : element.end], "big")


def segment(data: bytes) -> Element:
    """The Segment of a whole file."""
    return next(e for e in walk(data) if e.id == SEGMENT)


def cue_track(data: bytes) -> int:
    """The number of the first video track in Tracks, else of the first audio track."""
    tracks = next(e for e in segment(data).children if e.id == TRACKS)
    found = {}
    for entry in tracks.children:
        fields = {child.id: uint(data, child) for child in entry.children if child.id in (
            0xD7, 0x83)}  # fmt: skip
        found.setdefault(fields.get(0x83), fields.get(0xD7))
    return found.get(1) or found[2]


def block_header(data: bytes, element: Element) -> tuple[int, int, int]:
    """(track, relative timecode, flags) of a SimpleBlock or Block."""
    track, pos = webm.read_vint(data, element.start, keep_marker=False)
    relative = int.from_bytes(data[pos : pos + 2], "big", signed=True)
    return track, relative, data[pos + 2]


@dataclass(frozen=True)
class Reference:
    """What a whole-file parse finds: (offset, timecode, keyframe, time of the first cue-track
    block) per Cluster, every block's (track, absolute timecode, keyframe), and the offset of
    the first Cluster."""

    clusters: list[tuple[int, int, bool, int]]
    blocks: list[tuple[int, int, bool]]
    init_end: int


def reference(data: bytes, cue_track: int) -> Reference:
    """Clusters and blocks of a whole file, read the slow way."""
    clusters, blocks = [], []
    top = segment(data).children
    for cluster in (e for e in top if e.id == CLUSTER):
        timecode = next(uint(data, c) for c in cluster.children if c.id == TIMECODE)
        first_key, cue_time = None, timecode
        for child in cluster.children:
            if child.id == SIMPLE_BLOCK:
                track, relative, flags = block_header(data, child)
                key = bool(flags & 0x80)
            elif child.id == BLOCK_GROUP:
                block = next(c for c in child.children if c.id == BLOCK)
                track, relative, _ = block_header(data, block)
                key = not any(c.id == REFERENCE for c in child.children)
            else:
                continue
            blocks.append((track, timecode + relative, key))
            if track == cue_track and first_key is None:
                first_key, cue_time = key, timecode + relative
        clusters.append((cluster.offset, timecode, bool(first_key), cue_time))
    init_end = next(e.offset for e in top if e.id == CLUSTER)
    return Reference(clusters, blocks, init_end)


def unknown_size_clusters(data: bytes) -> bytes:
    """`data` (an unknown-size Segment) with every Cluster's size field replaced by the
    8-byte "unknown" one, `01 FF FF FF FF FF FF FF`, as Chrome writes Clusters."""
    out, pos = [], 0
    for cluster in (e for e in segment(data).children if e.id == CLUSTER):
        out += [data[pos : cluster.offset + 4], b"\x01" + b"\xff" * 7]
        pos = cluster.start
    return b"".join([*out, data[pos:]])


def dump(data: bytes, elements: list | None = None, depth: int = 0, limit: int = 40) -> str:
    """An indented listing of the element tree, `limit` lines per level."""
    lines = []
    for item in (walk(data) if elements is None else elements)[:limit]:
        size = "unknown" if item.size is None else item.size
        lines.append(f"{'  ' * depth}{item.id:X} @{item.offset} size={size}")
        if item.children:
            lines.append(dump(data, item.children, depth + 1, limit))
    return "\n".join(lines)
