"""What the incremental WebM index knows: every Cluster's place, time and keyframe flag, and
the stream's init segment, time scale, cue track and end. Pure data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClusterEntry:
    """One Cluster: where its ID starts in the stream, its Timecode (TimecodeScale units), and
    whether the first block of the cue track in it is a keyframe.

    `cue_time` is that block's absolute timecode (a CuePoint's CueTime; it differs from
    `timecode` when another track's block or a B-frame comes first). Until the cluster's first
    cue-track block arrives, the last entry says `keyframe=False, cue_time=timecode`."""

    offset: int
    timecode: int
    keyframe: bool
    cue_time: int = 0


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
      stream's duration when it starts at 0. Per track, the latest presentation timestamp
      plus that block's duration: its BlockDuration if given, else the track's
      DefaultDuration, else the gap between the track's two latest timestamps (one frame or
      one audio packet; with B-frames, the latest two in presentation order). The stream's
      end is the latest of its tracks' ends, rounded. Only whole blocks count.
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
