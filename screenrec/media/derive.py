"""Copies made after the final: an H.264 + AAC MP4 of a WebM final, for players that take no
WebM (older iOS, many TVs, editors and messaging apps). The one place video is re-encoded."""

from __future__ import annotations

from pathlib import Path

from screenrec.errors import FinalizeFailed
from screenrec.media.ffmpeg import run_ffmpeg


def mp4_copy_args(ffmpeg: str, source: Path, output: Path) -> list[str]:
    """H.264 (`veryfast`, CRF 23: a screen recording stays sharp at a modest size) in 8-bit
    4:2:0, the one pixel format every H.264 decoder takes, AAC 128k, `moov` in front; even
    dimensions, which 4:2:0 requires and a captured window may not have."""
    return [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(source),
        "-map", "0:v:0?", "-map", "0:a:0?",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
        "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2",
        "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", "-f", "mp4", str(output),
    ]  # fmt: skip


async def make_mp4_copy(ffmpeg: str, source: Path, output: Path, *, timeout: float) -> None:
    """Encode `source` to `output` as `mp4_copy_args` says. Raises FinalizeFailed with
    ffmpeg's last words when it fails or takes longer than `timeout`."""
    result = await run_ffmpeg(mp4_copy_args(ffmpeg, source, output), timeout=timeout)
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        tail = "; ".join(lines[-3:]) or f"exit code {result.returncode}"
        raise FinalizeFailed(f"ffmpeg could not make the MP4 copy: {tail}")
