"""FFmpeg itself: finding the binary, the one async runner that spawns it (stdin fed from
an async iterator, killed on timeout or cancel), and `ffmpeg -i` as a probe."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from screenrec.errors import ConfigError, FinalizeFailed

_DURATION_RE = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_STREAM_RE = re.compile(r"Stream #\d+:\d+.*?: (Video|Audio): (\w+)")
_STDERR_KEEP = 64 * 1024
INSTALL_HINT = (
    "install ffmpeg (apt-get install ffmpeg), or `pip install imageio-ffmpeg`, "
    "or point SCREENREC_FFMPEG / --ffmpeg at a binary"
)


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What `ffmpeg -i` says about a file."""

    duration_ms: int | None
    video_codec: str | None
    audio_codec: str | None


@dataclass(frozen=True, slots=True)
class FfmpegResult:
    """How one ffmpeg run ended: its exit code and the tail of its stderr."""

    returncode: int
    stderr: str


def find_ffmpeg(configured: str | None = None) -> str:
    """The ffmpeg to run: `configured` (setting), else PATH, else the imageio-ffmpeg binary."""
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise ConfigError(f"ffmpeg not found at {configured!r}; {INSTALL_HINT}")
        return found
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise ConfigError(f"ffmpeg not found; {INSTALL_HINT}") from exc


def probe_args(ffmpeg: str, path: Path) -> list[str]:
    """`ffmpeg -i FILE` with no output: prints Duration and streams, exits 1 by design."""
    return [ffmpeg, "-hide_banner", "-nostdin", "-i", str(path)]


def parse_probe(stderr: str) -> MediaInfo:
    """Duration and codecs from `ffmpeg -i` output."""
    duration_ms = None
    if m := _DURATION_RE.search(stderr):
        hours, minutes, seconds = int(m.group(1)), int(m.group(2)), float(m.group(3))
        duration_ms = round((hours * 3600 + minutes * 60 + seconds) * 1000)
    codecs = {kind: codec for kind, codec in _STREAM_RE.findall(stderr)[::-1]}
    return MediaInfo(duration_ms, codecs.get("Video"), codecs.get("Audio"))


_F_SETPIPE_SZ = 1031  # Linux fcntl: set a pipe's capacity


def _widen_pipe(stdin: asyncio.StreamWriter) -> None:
    """Give ffmpeg's stdin a 1 MiB pipe (Linux; 64 KiB by default): fewer wake-ups per MB."""
    pipe = stdin.get_extra_info("pipe")
    with contextlib.suppress(OSError, AttributeError, ValueError):
        fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, 1024 * 1024)


async def _feed(stdin: asyncio.StreamWriter, blocks: AsyncIterator[bytes]) -> None:
    try:
        async for block in blocks:
            stdin.write(block)
            await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        return  # ffmpeg stopped reading; its exit code and stderr say why
    finally:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            stdin.close()
            await stdin.wait_closed()


async def run_ffmpeg(
    args: list[str], *, stdin: AsyncIterator[bytes] | None = None, timeout: float
) -> FfmpegResult:
    """Run ffmpeg, feeding `stdin` blocks; kill it on timeout or cancellation."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise FinalizeFailed(f"could not run {args[0]}: {os.strerror(exc.errno or 0)}") from exc
    assert proc.stderr is not None
    if proc.stdin is not None:
        _widen_pipe(proc.stdin)
    feeder = asyncio.create_task(_feed(proc.stdin, stdin)) if proc.stdin and stdin else None
    try:
        async with asyncio.timeout(timeout):
            stderr = await proc.stderr.read()
            if feeder is not None:
                await feeder
            returncode = await proc.wait()
    except TimeoutError:
        raise FinalizeFailed(f"ffmpeg took longer than {timeout:g} s and was stopped") from None
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if feeder is not None and not feeder.done():
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
    return FfmpegResult(returncode, stderr[-_STDERR_KEEP:].decode("utf-8", "replace"))


async def probe(ffmpeg: str, path: Path, *, timeout: float = 60.0) -> MediaInfo:
    """Duration and codecs of a media file."""
    result = await run_ffmpeg(probe_args(ffmpeg, path), timeout=timeout)
    return parse_probe(result.stderr)
