"""The final file: which container it gets for a recording's codecs (never re-encoding video),
the ffmpeg run that writes it from the joined chunk stream, and how long it lasts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

from screenrec.errors import FinalizeFailed
from screenrec.media.container import Container
from screenrec.media.ffmpeg import run_ffmpeg
from screenrec.media.mp4 import mp4_duration_ms
from screenrec.media.webm import webm_duration_ms

WEBM_VIDEO = frozenset({"vp8", "vp9", "av1"})
WEBM_AUDIO = frozenset({"opus", "vorbis"})
MP4_VIDEO = frozenset({"h264", "hevc", "av1", "vp9"})
MP4_AUDIO = frozenset({"aac"})
_MP4_AUDIO_ARGS = ("-c:a", "aac", "-b:a", "128k")
_WEBM_AUDIO_ARGS = ("-c:a", "libopus", "-b:a", "128k")


@dataclass(frozen=True, slots=True)
class OutputPlan:
    """How a recording becomes its final: `format` (`webm` or `mp4`), the file name its key
    ends with, the Content-Type to serve it with, the final's codecs, and the ffmpeg options
    between the input and the output file."""

    format: str
    file_name: str
    content_type: str
    video_codec: str | None
    audio_codec: str | None
    audio_reencoded: bool
    codec_args: tuple[str, ...]

    def args(self, ffmpeg: str, output: Path, source: str = "pipe:0") -> list[str]:
        """The whole ffmpeg command: read `source` (stdin by default: ffmpeg demuxes both
        Matroska and fragmented MP4 from a pipe), write a seekable file at `output`.
        `output` must be a real file: Cues and faststart both rewrite it after the media."""
        return [ffmpeg, "-hide_banner", "-loglevel", "warning", "-y", "-i", source,
                *self.codec_args, str(output)]  # fmt: skip


WEBM_PLAN = OutputPlan(
    "webm", "final.webm", "video/webm", None, None, False,
    ("-map", "0", "-c", "copy", "-cues_to_front", "1", "-f", "webm"),
)  # fmt: skip


def plan_output(
    container: Container | str, video_codec: str | None, audio_codec: str | None
) -> OutputPlan:
    """The final for a recording in `container` with these codecs (ffmpeg's names; None for
    no such track). Video is always copied; audio is copied where the final's container and
    every mainstream player take it:

    - WebM/Matroska with VP8, VP9 or AV1 video, or with only Opus or Vorbis audio ->
      `final.webm`, as today: `-c copy -cues_to_front 1`. Other audio next to such video
      (a Matroska file may hold AAC) is re-encoded to Opus rather than moving VP8 into MP4,
      which has no standard mapping for it.
    - H.264 or HEVC (Chrome `video/webm;codecs=h264`), any fragmented MP4 (Safari, Chrome
      `video/mp4`), and AAC-only audio -> `final.mp4` with `moov` in front
      (`-movflags +faststart`, never the fragmenting flags). AAC is copied; Opus, Vorbis or
      anything else is re-encoded to AAC 128k: older iOS Safari, many hardware players,
      editors and messaging apps do not play Opus in MP4, and all of them play AAC. It
      costs time at stop: 4.3-5.0 s for a 10-minute take (mono, 2 shared cores), against
      0.45-0.8 s for a copy; re-encoding video would cost minutes.
      HEVC gets the `hvc1` sample entry tag, the only one Apple's players accept.

    Raises FinalizeFailed when no final can carry the video without re-encoding it, or when
    there is neither video nor audio."""
    if video_codec is None and audio_codec is None:
        raise FinalizeFailed("the recording has neither a video nor an audio track")
    container = Container(container)
    webm_video = video_codec in WEBM_VIDEO or (video_codec is None and audio_codec != "aac")
    if container.is_ebml and webm_video:
        return _webm(video_codec, audio_codec)
    if video_codec is not None and video_codec not in MP4_VIDEO:
        raise FinalizeFailed(
            f"{video_codec} video in {container}: no final (WebM: vp8, vp9, av1; MP4: "
            "h264, hevc, av1, vp9) carries it without re-encoding it"
        )
    return _mp4(video_codec, audio_codec)


def _webm(video_codec: str | None, audio_codec: str | None) -> OutputPlan:
    if audio_codec is None or audio_codec in WEBM_AUDIO:
        return replace(WEBM_PLAN, video_codec=video_codec, audio_codec=audio_codec)
    args = ("-map", "0:v?", "-map", "0:a?", "-c:v", "copy", *_WEBM_AUDIO_ARGS,
            "-cues_to_front", "1", "-f", "webm")  # fmt: skip
    return OutputPlan("webm", "final.webm", "video/webm", video_codec, "opus", True, args)


def _mp4(video_codec: str | None, audio_codec: str | None) -> OutputPlan:
    reencode = audio_codec is not None and audio_codec not in MP4_AUDIO
    audio = _MP4_AUDIO_ARGS if reencode else ("-c:a", "copy")
    tag = ("-tag:v", "hvc1") if video_codec == "hevc" else ()
    args = ("-map", "0:v?", "-map", "0:a?", "-c:v", "copy", *tag, *audio,
            "-movflags", "+faststart", "-f", "mp4")  # fmt: skip
    final_audio = "aac" if reencode else audio_codec
    return OutputPlan("mp4", "final.mp4", "video/mp4", video_codec, final_audio, reencode, args)


async def remux_to(
    plan: OutputPlan,
    ffmpeg: str,
    blocks: AsyncIterator[bytes],
    output: Path,
    *,
    timeout: float,
) -> list[str]:
    """Write the joined chunk stream `blocks` to `output` as `plan` says; return ffmpeg's
    warning lines. Raises FinalizeFailed with ffmpeg's last words if it fails."""
    result = await run_ffmpeg(plan.args(ffmpeg, output), stdin=blocks, timeout=timeout)
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    if result.returncode != 0:
        tail = "; ".join(lines[-3:]) or f"exit code {result.returncode}"
        raise FinalizeFailed(f"ffmpeg could not remux the recording: {tail}")
    return lines


def duration_ms(path: Path, format: str) -> int | None:
    """The duration a final's header declares (`webm` Segment Duration, `mp4` mvhd), read in
    Python. None when the header has none."""
    readers = {"webm": webm_duration_ms, "mp4": mp4_duration_ms}
    if format not in readers:
        raise ValueError(f"unknown final format {format!r}")
    return readers[format](path)
