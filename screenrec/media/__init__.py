"""Media: what a recording is (container and codecs, from its first bytes), the final ffmpeg
writes from it, and ffmpeg itself (pure argument builders + one async runner)."""

from screenrec.media.container import Container, InitInfo, Track, needs_more, read_init, sniff
from screenrec.media.ffmpeg import (
    INSTALL_HINT,
    FfmpegResult,
    MediaInfo,
    find_ffmpeg,
    parse_probe,
    probe,
    probe_args,
    run_ffmpeg,
)
from screenrec.media.final import remux, remux_args
from screenrec.media.mp4 import moov_before_mdat, mp4_duration_ms, top_level_boxes
from screenrec.media.webm import webm_duration_ms

__all__ = [
    "INSTALL_HINT",
    "Container",
    "FfmpegResult",
    "InitInfo",
    "MediaInfo",
    "Track",
    "find_ffmpeg",
    "moov_before_mdat",
    "mp4_duration_ms",
    "needs_more",
    "parse_probe",
    "probe",
    "probe_args",
    "read_init",
    "remux",
    "remux_args",
    "run_ffmpeg",
    "sniff",
    "top_level_boxes",
    "webm_duration_ms",
]
