"""Media: ffmpeg (pure argument builders + one async runner) and the EBML reading of finals."""

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
from screenrec.media.webm import webm_duration_ms

__all__ = [
    "INSTALL_HINT",
    "FfmpegResult",
    "MediaInfo",
    "find_ffmpeg",
    "parse_probe",
    "probe",
    "probe_args",
    "remux",
    "remux_args",
    "run_ffmpeg",
    "webm_duration_ms",
]
