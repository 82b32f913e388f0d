"""The incremental index of a WebM/Matroska stream as MediaRecorder sends it: fed the bytes in
order, cut anywhere, in constant memory; it knows the init segment (everything before the
first Cluster), every Cluster's offset, timecode and whether it opens on a keyframe, and how
long the stream lasts. Pure and byte-level: no I/O, no ffmpeg."""

from __future__ import annotations

from screenrec.media import webm
from screenrec.media.webm_index_types import ClusterEntry, WebmIndex

__all__ = ["ClusterEntry", "WebmIndex", "WebmIndexer"]

_EBML, _SEGMENT, _CLUSTER = 0x1A45DFA3, 0x18538067, 0x1F43B675
_INFO, _TRACKS, _CUES, _TAGS = 0x1549A966, 0x1654AE6B, 0x1C53BB6B, 0x1254C367
_SEEK_HEAD, _CHAPTERS, _ATTACHMENTS = 0x114D9B74, 0x1043A770, 0x1941A469
_VOID, _CRC32 = 0xEC, 0xBF
_TIMECODE, _SIMPLE_BLOCK, _BLOCK_GROUP, _BLOCK = 0xE7, 0xA3, 0xA0, 0xA1
_BLOCK_DURATION, _REFERENCE_BLOCK = 0x9B, 0xFB
# Level-1 elements: one ends an unknown-size Cluster. All but Cluster are skipped by size.
_SKIPPED_TOP = frozenset({_INFO, _TRACKS, _CUES, _TAGS, _SEEK_HEAD, _CHAPTERS, _ATTACHMENTS})
_TOP = _SKIPPED_TOP | {_CLUSTER}
# Cluster children other than blocks and Timecode: Position, PrevSize, SilentTracks,
# EncryptedBlock, and the global Void and CRC-32.
_CLUSTER_SKIPPED = frozenset({_VOID, _CRC32, 0xA7, 0xAB, 0x5854, 0xAF})
_MAX_INIT = 1 << 20  # an init segment is a few hundred bytes from browsers
_MAX_ELEMENT = 1 << 26  # a block, or a skipped element, larger than 64 MiB is corruption
_MAX_PENDING = 64  # outside the init segment only element and block headers are kept
_FAR = 1 << 62  # the end of an unknown-size element
_NONE = -(1 << 62)  # "no block yet" for a track's timestamps


class WebmIndexer:
    """Feed it a recording's bytes in stream order, in pieces cut anywhere (inside an element
    header too); it keeps only what it has not parsed yet of an unfinished element header,
    never block payloads.

    It never raises on bad bytes: it stops, sets `problem`, and ignores what follows."""

    def __init__(self) -> None:
        self._fed = 0  # bytes fed so far
        self._pending = b""  # the unparsed start of an element cut by a feed
        self._skip = 0  # payload bytes still to pass over
        self._skip_from = 0  # where the element being passed over starts
        self._held: tuple[list, int, float | None] | None = None  # a block passed over
        self._problem: str | None = None
        self._problem_at = 0
        self._finished = False
        # The init segment.
        self._segment_data = 0
        self._segment_end = _FAR
        self._init_end = -1
        self._scale = 1_000_000
        self._cue_track = 0
        self._tracks: dict[int, list] = {}  # number -> [top, second, top_dur, default_dur]
        # Where the parser is: 1 in the Segment, 2 in a Cluster, 3 in a BlockGroup.
        self._level = 1
        self._cluster_end = _FAR
        self._cluster_time: int | None = None
        self._cue_seen = False
        self._group_end = 0
        self._group: list | None = None  # [track, time, BlockDuration, referenced, has Block]
        self._cluster_at = 0
        self._clusters: list[ClusterEntry] = []
        self._frozen: tuple[ClusterEntry, ...] = ()

    @property
    def problem(self) -> str | None:
        """Why parsing stopped (also before the init segment is whole), else None."""
        return self._problem

    def feed(self, data: bytes) -> None:
        """Parse `data`, the bytes that follow everything fed so far."""
        start, n = self._fed, len(data)
        self._fed += n
        if self._problem is not None or self._finished or not n:
            return
        if self._init_end < 0:
            self._begin(data)
            return
        pos = 0
        if self._skip:
            if self._skip >= n:
                self._skip -= n
                if self._skip:
                    return
                pos = n
            else:
                pos, self._skip = self._skip, 0
            self._commit_held()
        if self._pending:
            pos = self._finish_pending(data, pos, start)
            if pos < 0:
                return
            if pos <= n:
                self._commit_held()  # a block that began in the pending bytes ended here
        self._go_on(data, pos, start)

    def _go_on(self, buf: bytes, pos: int, base: int) -> None:
        """Parse `buf` from `pos` on, then keep its unparsed tail or the bytes to pass over."""
        if pos > len(buf):
            self._skip = pos - len(buf)
            return
        end = self._body(buf, pos, base)
        if self._problem is not None:
            return
        if end > len(buf):
            self._skip = end - len(buf)
        elif end < len(buf):
            self._keep(buf[end:])

    def _begin(self, data: bytes) -> None:
        """Until the first Cluster: gather the init segment, then read it whole."""
        buf = self._pending + data if self._pending else data
        base = self._fed - len(buf)
        try:
            init = webm.read_init_segment(buf)
        except ValueError as exc:
            self._stop(base, str(exc))
            return
        if init is None:
            self._keep(buf)
            return
        self._pending = b""
        video, audio = ([n for n, kind, _ in init.tracks if kind == k] for k in (1, 2))
        if not video and not audio:
            self._stop(base + init.end, "no audio or video track before the first Cluster")
            return
        self._init_end, self._segment_data = base + init.end, base + init.segment_data
        if init.segment_size is not None:
            self._segment_end = self._segment_data + init.segment_size
        self._scale, self._cue_track = init.timecode_scale, (video or audio)[0]
        for number, _, default in init.tracks:  # DefaultDuration: ns -> timecode units
            duration = None if default is None else default / init.timecode_scale
            self._tracks[number] = [_NONE, _NONE, None, duration]
        self._go_on(buf, init.end, base)

    def _finish_pending(self, data: bytes, pos: int, start: int) -> int:
        """Complete the pending element header with as few bytes of `data` as it takes; the
        position in `data` after it, or -1 when `data` ran out (or parsing stopped)."""
        take = 64
        while True:
            pending = self._pending
            window = pending + data[pos : pos + take]
            base = start + pos - len(pending)
            done = self._body(window, 0, base)
            if self._problem is not None:
                return -1
            if done >= len(pending):
                self._pending = b""
                return pos + done - len(pending)
            self._pending = pending[done:]
            if pos + take >= len(data):
                self._keep(self._pending + data[pos:])
                return -1
            take *= 8

    def _keep(self, rest: bytes) -> None:
        """Keep the unparsed tail, or stop if it is larger than any header can be."""
        limit = _MAX_PENDING if self._init_end >= 0 else _MAX_INIT
        if len(rest) > limit:
            why = "an element header larger than any valid one"
            self._stop(self._fed - len(rest), why if self._init_end >= 0 else "no Cluster")
        else:
            self._pending = rest

    def finish(self) -> WebmIndex | None:
        """Say the stream has ended: a stream that stops inside an element (a cut-short
        block, a sized Cluster missing bytes) gets a `problem`. Returns the index."""
        if self._problem is None and not self._finished:
            if self._init_end < 0:
                self._stop(self._fed - len(self._pending), "the stream ends before a Cluster")
            elif self._pending or self._skip:
                where = self._skip_from if self._skip else self._fed - len(self._pending)
                self._stop(where, "the stream ends inside an element")
            elif (self._level == 2 and self._cluster_end != _FAR) or self._level == 3:
                self._stop(self._fed, "the stream ends inside a Cluster")
            elif self._segment_end != _FAR and self._fed < self._segment_end:
                self._stop(self._fed, "the stream ends inside the Segment")
        self._finished = True
        return self.index

    @property
    def index(self) -> WebmIndex | None:
        """The index so far; None until the init segment is complete (the first Cluster
        has begun)."""
        if self._init_end < 0:
            return None
        if len(self._frozen) != len(self._clusters) or (
            self._clusters and self._frozen[-1] is not self._clusters[-1]
        ):
            self._frozen = tuple(self._clusters)
        if self._problem is not None:
            parsed_to = self._problem_at
        elif self._skip:
            parsed_to = self._skip_from
        else:
            parsed_to = self._fed - len(self._pending)
        return WebmIndex(
            self._init_end, self._segment_data, self._scale, self._cue_track, self._frozen,
            self._end_timecode(), parsed_to, self._problem,
        )  # fmt: skip

    def _end_timecode(self) -> int:
        end = 0.0
        for top, second, top_dur, _ in self._tracks.values():
            if top != _NONE:
                gap = top - second if second != _NONE else 0
                end = max(end, top + (gap if top_dur is None else top_dur))
        return round(end)

    def _stop(self, where: int, why: str) -> None:
        self._problem = f"{why} (at byte {where})"
        self._problem_at = where
        self._pending = b""
        self._skip = 0

    def _commit_held(self) -> None:
        if self._held is not None:
            _time(*self._held)
            self._held = None

    # -- the parser -------------------------------------------------------------------------

    def _body(self, buf: bytes, i: int, base: int) -> int:
        """Clusters and what lies between them. The hot path: one pass over element headers,
        block payloads passed over by size. Kept as one inlined loop on purpose: it costs
        ~0.5 ms per MB of 1 Mbit/s VP8 + Opus (~60 us per 1 s chunk, 2 shared cores), and a
        helper call per block would add ~20 %."""
        n = len(buf)
        level, tracks, cue_track = self._level, self._tracks, self._cue_track
        cluster_end, group_end, segment_end = self._cluster_end, self._group_end, self._segment_end
        cluster_time, cue_seen, group = self._cluster_time, self._cue_seen, self._group
        why = None
        a = start = base + i
        while True:
            if i > n:
                self._skip_from = start  # passing over a payload that runs past `buf`
                break
            a = base + i
            if level == 3 and a >= group_end:
                why = self._close_group(group, cue_seen)
                if why:
                    break
                cue_seen = cue_seen or group[0] == cue_track
                level = 2
            if level == 2 and a >= cluster_end:
                level = 1
            if a >= segment_end:
                if i < n:
                    why = "bytes after the end of the Segment"
                break
            if i == n:
                break
            start = a
            # The element header: an ID of 1-4 bytes, a size of 1-8.
            b = buf[i]
            if b >= 0x80:
                element, j = b, i + 1
            else:
                j = i + 2 if b >= 0x40 else i + 3 if b >= 0x20 else i + 4 if b >= 0x10 else 0
                if not j:
                    why = "not an element ID"
                    break
                if j > n:
                    break
                element = int.from_bytes(buf[i:j], "big")
            if j >= n:
                break
            s = buf[j]
            if s >= 0x80:
                k, size, unknown = j + 1, s & 0x7F, s == 0xFF
            else:
                if not s:
                    why = "not an element size"
                    break
                length = 9 - s.bit_length()
                k = j + length
                if k > n:
                    break
                mask = (1 << (7 * length)) - 1
                size = int.from_bytes(buf[j:k], "big") & mask
                unknown = size == mask
            end = k + size
            if size > _MAX_ELEMENT and not (unknown and element in (_CLUSTER, _SEGMENT)):
                why = f"element {element:X} of absurd size {size}"
                break
            if level == 2:
                if element in (_SIMPLE_BLOCK, _BLOCK_GROUP):
                    if unknown or base + end > cluster_end or cluster_time is None:
                        why = "a block of unknown size, past its Cluster, or before Timecode"
                        break
                    if element == _BLOCK_GROUP:
                        level, group_end, group = 3, base + end, [0, 0, None, False, None]
                        i = k
                        continue
                    # SimpleBlock: track number (a vint, 1 byte in practice), int16 timecode
                    # relative to the Cluster, flags (0x80: keyframe).
                    if k >= n:
                        break
                    t0 = buf[k]
                    h = k + 1 if t0 >= 0x80 else k + 9 - t0.bit_length()
                    if not t0 or h + 3 > end:
                        why = "a SimpleBlock too short for its header"
                        break
                    if h + 3 > n:
                        break
                    track = t0 & 0x7F if h == k + 1 else _vint(buf, k, h)
                    state = tracks.get(track)
                    if state is None:
                        why = f"a block of track {track}, which Tracks does not list"
                        break
                    t = cluster_time + int.from_bytes(buf[h : h + 2], "big", signed=True)
                    if not cue_seen and track == cue_track:
                        cue_seen = True
                        self._cue_block(t, buf[h + 2] >= 0x80)
                    if end <= n:
                        top = state[0]
                        if t > top:
                            state[0], state[1], state[2] = t, top, state[3]
                        elif t > state[1] and t != top:
                            state[1] = t
                    else:
                        self._held = (state, t, state[3])
                    i = end
                    continue
                if element == _TIMECODE:
                    if unknown or size > 8:
                        why = "a bad Cluster Timecode"
                        break
                    if end > n:
                        break
                    cluster_time = int.from_bytes(buf[k:end], "big")
                    cluster = ClusterEntry(self._cluster_at, cluster_time, False, cluster_time)
                    self._clusters.append(cluster)
                    i = end
                    continue
                if element in _TOP:
                    if cluster_end != _FAR:
                        why = f"level-1 element {element:X} inside a sized Cluster"
                        break
                    level = 1  # it ends this unknown-size Cluster: read it at level 1
                    continue
                if element not in _CLUSTER_SKIPPED or unknown or base + end > cluster_end:
                    why = f"unexpected element {element:X} in a Cluster"
                    break
                i = end
            elif level == 1:
                if element == _CLUSTER:
                    cluster_end = _FAR if unknown else base + end
                    if cluster_end != _FAR and cluster_end > segment_end:
                        why = "a Cluster past the end of the Segment"
                        break
                    self._cluster_at, cluster_time, cue_seen, level = a, None, False, 2
                    i = k
                    continue
                if unknown or (element not in _SKIPPED_TOP and element not in (_VOID, _CRC32)):
                    why = f"unexpected element {element:X} in the Segment"
                    break
                i = end
            else:
                if unknown or base + end > group_end:
                    why = f"element {element:X} overruns its BlockGroup"
                    break
                if element == _BLOCK:
                    if k >= n:
                        break
                    t0 = buf[k]
                    h = k + 1 if t0 >= 0x80 else k + 9 - t0.bit_length()
                    if not t0 or h + 3 > end:
                        why = "a Block too short for its header"
                        break
                    if h + 2 > n:
                        break
                    group[0] = t0 & 0x7F if h == k + 1 else _vint(buf, k, h)
                    group[1] = cluster_time + int.from_bytes(buf[h : h + 2], "big", signed=True)
                    group[4] = True
                elif element in (_BLOCK_DURATION, _REFERENCE_BLOCK):
                    if end > n:
                        break
                    if element == _BLOCK_DURATION:
                        group[2] = int.from_bytes(buf[k:end], "big")
                    else:
                        group[3] = True
                i = end
        if why is not None:
            self._stop(a, why)
        self._level, self._cluster_end, self._group_end = level, cluster_end, group_end
        self._cluster_time, self._cue_seen, self._group = cluster_time, cue_seen, group
        return i

    def _cue_block(self, time: int, keyframe: bool) -> None:
        """The first cue-track block of the current Cluster: its keyframe flag decides it."""
        cluster = self._clusters[-1]
        self._clusters[-1] = ClusterEntry(cluster.offset, cluster.timecode, keyframe, time)

    def _close_group(self, group: list, cue_seen: bool) -> str | None:
        """A BlockGroup ends: its Block is a keyframe when no ReferenceBlock came with it."""
        track, time, duration, referenced, has_block = group
        state = self._tracks.get(track)
        if not has_block or state is None:
            return "a BlockGroup without a Block of a listed track"
        if not cue_seen and track == self._cue_track:
            self._cue_block(time, not referenced)
        _time(state, time, state[3] if duration is None else duration)
        return None


def _vint(buf: bytes, start: int, end: int) -> int:
    """The value of the vint `buf[start:end]` (its length marker cleared)."""
    return int.from_bytes(buf[start:end], "big") & ((1 << (7 * (end - start))) - 1)


def _time(state: list, time: int, duration: float | None) -> None:
    """A whole block of a track at `time` lasting `duration` (None: not known)."""
    top = state[0]
    if time > top:
        state[0], state[1], state[2] = time, top, duration
    elif state[1] < time < top:
        state[1] = time
