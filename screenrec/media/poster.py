"""The poster: a JPEG of one keyframe near 10 % of a final, at most 1280 wide, made by ffmpeg
decoding only that keyframe."""

from __future__ import annotations

from pathlib import Path

from screenrec.errors import FinalizeFailed
from screenrec.media.ffmpeg import run_ffmpeg

MAX_WIDTH = 1280
# Scale down to MAX_WIDTH, never up; -2 keeps the aspect with an even height.
_SCALE = f"scale='min({MAX_WIDTH},iw)':-2"


def poster_time(duration_ms: int | None) -> float:
    """Where to look for the poster frame, in seconds: 10 % in, past a black first frame."""
    return round(max(duration_ms or 0, 0) / 10_000, 3)


def poster_args(ffmpeg: str, final: Path, duration_ms: int | None, output: Path) -> list[str]:
    """One JPEG from the keyframe at or before 10 % of `final`. Input seeking (`-ss` before
    `-i`) with `-noaccurate_seek` jumps to that keyframe through the index and decodes only
    it: 35-45 ms per poster, process start included, on 10-minute 640x360 H.264 and VP8
    finals. Accurate seeking decodes the GOP up to the time (0.2 s more with 60 s GOPs, as a
    static screen makes), output seeking everything before it (0.5-0.9 s)."""
    return [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-noaccurate_seek", "-ss", f"{poster_time(duration_ms):g}", "-i", str(final),
        "-map", "0:v:0", "-frames:v", "1", "-vf", _SCALE, "-q:v", "3",
        "-f", "image2", "-update", "1", str(output),
    ]  # fmt: skip


async def make_poster(
    ffmpeg: str, final: Path, duration_ms: int | None, output: Path, *, timeout: float = 60.0
) -> None:
    """Write the poster of `final` to `output`. Raises FinalizeFailed (which the caller turns
    into a warning) when ffmpeg fails or writes nothing, e.g. for an audio-only final."""
    output.unlink(missing_ok=True)  # a leftover must not pass for this run's poster
    result = await run_ffmpeg(poster_args(ffmpeg, final, duration_ms, output), timeout=timeout)
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    if result.returncode != 0 or not output.exists() or output.stat().st_size == 0:
        tail = "; ".join(lines[-3:]) or f"exit code {result.returncode}"
        raise FinalizeFailed(f"ffmpeg could not make a poster: {tail}")
