"""Media: what a recording is (container and codecs, from its first bytes), the final ffmpeg
writes from it, its poster, and ffmpeg itself (pure argument builders + one async runner).

    info = read_init(first_chunk)                     # None: not WebM, Matroska or MP4
    plan = plan_output(info.container, info.video_codec, info.audio_codec)
    lines = await remux_to(plan, ffmpeg, blocks, scratch, timeout=600)
    ms = duration_ms(scratch, plan.format)
    await make_poster(ffmpeg, scratch, ms, poster)    # video only; FinalizeFailed -> a warning
"""

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
from screenrec.media.final import (
    OutputPlan,
    duration_ms,
    plan_output,
    remux_to,
)
from screenrec.media.mp4 import moov_before_mdat, mp4_duration_ms, top_level_boxes
from screenrec.media.poster import make_poster, poster_args
from screenrec.media.webm import webm_duration_ms

__all__ = [
    "INSTALL_HINT",
    "Container",
    "FfmpegResult",
    "InitInfo",
    "MediaInfo",
    "OutputPlan",
    "Track",
    "duration_ms",
    "find_ffmpeg",
    "make_poster",
    "moov_before_mdat",
    "mp4_duration_ms",
    "needs_more",
    "parse_probe",
    "plan_output",
    "poster_args",
    "probe",
    "probe_args",
    "read_init",
    "remux_to",
    "run_ffmpeg",
    "sniff",
    "top_level_boxes",
    "webm_duration_ms",
]
