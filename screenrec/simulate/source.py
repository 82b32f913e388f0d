"""The media a run streams: made once by ffmpeg and cached, cut like MediaRecorder cuts it,
measured (duration, video frames, container, codecs), and a final checked against it."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import platformdirs

from screenrec import media
from screenrec.errors import ScreenrecError
from screenrec.simulate.options import CODECS, SimulateError, SimulateOptions

_FRAME_RE = re.compile(r"frame=\s*(\d+)")
_TIME_RE = re.compile(r"time=(\d+):(\d\d):(\d\d(?:\.\d+)?)")


_FMP4_FLAGS = "+frag_keyframe+empty_moov+default_base_moof+skip_trailer"
_HEAD = 1024 * 1024  # enough for any init segment a recorder writes


def source_args(
    ffmpeg: str, codec: str, bitrate: int, seconds: float, output: Path, container: str = "webm"
) -> list[str]:
    """A MediaRecorder-like take: test pattern + tone, a keyframe every second, with no index.
    WebM (h264: Matroska, as Chrome's `video/webm;codecs=h264`) is written live (`-live 1`:
    no Duration, no Cues); MP4 is fragmented like Safari's (empty `moov`, no `mfra`), with
    AAC next to H.264 (Safari) and Opus next to VP9 (Chrome's `video/mp4`)."""
    size = "320x240" if bitrate < 1e6 else "640x360" if bitrate < 4e6 else "1280x720"
    if codec == "h264":  # a real-time encoder, as browsers use: no B-frames, no lookahead
        video = ["-preset", "veryfast", "-tune", "zerolatency"]
    else:
        video = ["-deadline", "realtime", "-cpu-used", "8"]
    if container == "mp4":
        audio = "aac" if codec == "h264" else "libopus"
        mux = ["-movflags", _FMP4_FLAGS, "-f", "mp4"]
    else:
        audio, mux = "libopus", ["-live", "1", "-f", "matroska" if codec == "h264" else "webm"]
    return [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", f"{seconds:g}",
        "-c:v", CODECS[codec], *video, "-b:v", str(bitrate),
        "-g", "30", "-keyint_min", "30", "-c:a", audio, "-b:a", "64k",
        *mux, str(output),
    ]  # fmt: skip


def count_args(ffmpeg: str, path: Path) -> list[str]:
    """Copy the video packets to nowhere: stderr ends with `frame=N ... time=T`."""
    return [ffmpeg, "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v", "-c", "copy",
            "-f", "null", "-"]  # fmt: skip


async def make_media(ffmpeg: str, options: SimulateOptions) -> Path:
    """The generated source for these options, made once and kept in the user cache dir."""
    ext = "mp4" if options.container == "mp4" else "mkv" if options.codec == "h264" else "webm"
    name = (f"simulate-{options.container}-{options.codec}-{options.bitrate}bps-"
            f"{options.duration:g}s.{ext}")  # fmt: skip
    path = Path(platformdirs.user_cache_dir("screenrec")) / name
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{name}.{os.getpid()}.part")  # parallel runs never share a part
    args = source_args(ffmpeg, options.codec, options.bitrate, options.duration, part,
                       options.container)  # fmt: skip
    result = await media.run_ffmpeg(args, timeout=120 + 10 * options.duration)
    if result.returncode != 0:
        part.unlink(missing_ok=True)
        raise SimulateError(f"ffmpeg could not make the test media: {result.stderr.strip()}")
    part.replace(path)
    return path


@dataclass(frozen=True, slots=True)
class MediaFacts:
    """What verification compares: duration, video frames, the container (sniffed from the
    first bytes; None when not WebM, Matroska or MP4) and the codecs ffmpeg names."""

    duration_s: float | None
    frames: int | None
    container: media.Container | None = None
    video_codec: str | None = None
    audio_codec: str | None = None

    def final(self) -> media.OutputPlan:
        """The final a server makes of this source (`final.mp4` for MP4 or H.264, else
        `final.webm`). Raises SimulateError when it is no recording a server takes."""
        if self.container is None:
            raise SimulateError("not WebM, Matroska or MP4 (sniffed from its first bytes)")
        try:
            return media.plan_output(self.container, self.video_codec, self.audio_codec)
        except ScreenrecError as exc:
            raise SimulateError(exc.message) from None


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(_HEAD)


async def measure(ffmpeg: str, path: Path) -> MediaFacts:
    """Duration (the header's, else the last packet time), video frame count, container and
    codecs of a file."""
    head = await asyncio.to_thread(_head, path)
    result = await media.run_ffmpeg(count_args(ffmpeg, path), timeout=300)
    info = media.parse_probe(result.stderr)
    frames = _FRAME_RE.findall(result.stderr)
    duration = info.duration_ms / 1000 if info.duration_ms is not None else None
    if duration is None and (times := _TIME_RE.findall(result.stderr)):
        h, m, s = times[-1]
        duration = int(h) * 3600 + int(m) * 60 + float(s)
    return MediaFacts(duration, int(frames[-1]) if frames else None, media.sniff(head),
                      info.video_codec, info.audio_codec)  # fmt: skip


def _faststart(path: Path) -> bool:
    kinds = [kind for kind, _, _ in media.top_level_boxes(path)]
    return media.moov_before_mdat(path) and "moof" not in kinds


async def check_final(ffmpeg: str, source: MediaFacts, path: Path, url: str) -> str | None:
    """Compare a downloaded final at `path` (from `url`) with its source: the file name in
    the URL's key, the container of its bytes, `moov` before `mdat` (MP4), the duration
    (within 2 %) and the video frame count. The problem, or None if it matches."""
    expected = source.final()
    key = unquote(urlsplit(url).path)
    if not key.endswith("/" + expected.file_name):
        return f"downloadUrl {url} does not name {expected.file_name}"
    try:
        got = await measure(ffmpeg, path)
        faststart = expected.format != "mp4" or await asyncio.to_thread(_faststart, path)
    except ScreenrecError as exc:
        return exc.message
    if got.container != expected.format:
        return f"the final is {got.container or 'not WebM or MP4'}, expected {expected.format}"
    if not faststart:
        return "the final MP4 is fragmented or has its moov after the media"
    if got.duration_s is None or source.duration_s is None:
        return f"no duration in the final ({got.duration_s}) or the source ({source.duration_s})"
    if abs(got.duration_s - source.duration_s) > 0.02 * source.duration_s:
        return f"duration {got.duration_s:.3f} s, source {source.duration_s:.3f} s"
    if got.frames is None or got.frames != source.frames:
        return f"{got.frames} video frames, source {source.frames}"
    return None


def cut(data: bytes, piece: int, seed: int) -> list[bytes]:
    """Cut `data` into pieces of about `piece` bytes at seeded arbitrary offsets (not element
    boundaries, like MediaRecorder's blobs). Each piece is made once and sent by every client."""
    count = max(1, round(len(data) / piece))
    rng = random.Random(seed)
    step = len(data) / count
    bounds = [0]
    for k in range(1, count):  # each boundary moves up to a quarter piece either way
        offset = round(k * step + rng.uniform(-step / 4, step / 4))
        bounds.append(min(max(offset, bounds[-1] + 1), len(data) - (count - k)))
    bounds.append(len(data))
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def fixed_cut(data: bytes, size: int) -> list[bytes]:
    """Pieces of exactly `size` bytes (the last one shorter)."""
    return [data[i : i + size] for i in range(0, len(data), size)]
