"""The final file: the ffmpeg run that writes it from the joined chunk stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from screenrec.errors import FinalizeFailed
from screenrec.media.ffmpeg import run_ffmpeg


def remux_args(ffmpeg: str, output: Path) -> list[str]:
    """Remux a MediaRecorder WebM stream read from stdin into a seekable file (Duration, Cues
    in front). Output must be a real file: Cues are only written when it is seekable."""
    return [
        ffmpeg, "-hide_banner", "-loglevel", "warning", "-y",
        "-i", "pipe:0",
        "-map", "0", "-c", "copy", "-cues_to_front", "1",
        "-f", "webm", str(output),
    ]  # fmt: skip


async def remux(
    ffmpeg: str, blocks: AsyncIterator[bytes], output: Path, *, timeout: float
) -> list[str]:
    """Remux the joined chunk stream to `output`; return ffmpeg's warning lines.

    Raises FinalizeFailed with ffmpeg's last words if it fails."""
    result = await run_ffmpeg(remux_args(ffmpeg, output), stdin=blocks, timeout=timeout)
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    if result.returncode != 0:
        tail = "; ".join(lines[-3:]) or f"exit code {result.returncode}"
        raise FinalizeFailed(f"ffmpeg could not remux the recording: {tail}")
    return lines
