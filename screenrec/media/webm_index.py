"""The incremental index of a WebM/Matroska stream as MediaRecorder sends it: fed the bytes in
order, cut anywhere, in constant memory; it knows the init segment (everything before the
first Cluster), every Cluster's offset, timecode and whether it opens on a keyframe, and how
long the stream lasts. Pure and byte-level: no I/O, no ffmpeg."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClusterEntry:
    """One Cluster: where its ID starts in the stream, its Timecode (TimecodeScale units), and
    whether the first block of the cue track in it is a keyframe."""

    offset: int
    timecode: int
    keyframe: bool


@dataclass(frozen=True)
class WebmIndex:
    """What the indexer knows so far.

    - `init_end`: the offset of the first Cluster; `stream[:init_end]` is the init segment
      (EBML header, Segment header, Info, Tracks, and whatever else came before).
    - `segment_data_offset`: where the Segment's data starts (SeekHead and Cues positions are
      relative to it).
    - `timecode_scale`: nanoseconds per timecode unit (1,000,000 unless Info says otherwise).
    - `cue_track`: the track number Cues point at (the video track, else the first audio one).
    - `clusters`: every Cluster seen, in stream order.
    - `end_timecode`: where the last block seen ends (absolute, TimecodeScale units): the
      stream's duration when it starts at 0.
    - `parsed_to`: how far the stream has been parsed (every complete element before it).
    - `problem`: why parsing stopped early (corrupt sizes, garbage), else None. After a
      problem the index keeps what it had, up to the last good cluster.
    """

    init_end: int
    segment_data_offset: int
    timecode_scale: int
    cue_track: int
    clusters: tuple[ClusterEntry, ...]
    end_timecode: int
    parsed_to: int
    problem: str | None = None


class WebmIndexer:
    """Feed it a recording's bytes in stream order, in pieces cut anywhere (inside an element
    header too); it keeps only what it has not parsed yet of an unfinished element header,
    never block payloads."""

    def feed(self, data: bytes) -> None:
        """Parse `data`, the bytes that follow everything fed so far."""
        raise NotImplementedError

    @property
    def index(self) -> WebmIndex | None:
        """The index so far; None until the init segment is complete (the first Cluster
        has begun)."""
        raise NotImplementedError
