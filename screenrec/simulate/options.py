"""What a simulate run offers (SimulateOptions) and why one cannot start (SimulateError)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

NAMESPACE = "/recording"
CODECS = {"vp8": "libvpx", "vp9": "libvpx-vp9", "h264": "libx264"}  # --codec -> encoder
# --container -> the codecs a browser records into it. WebM with h264 is Matroska, as
# Chrome's `video/webm;codecs=h264`; MP4 is fragmented, as Safari's and Chrome's.
CONTAINERS = {"webm": ("vp8", "vp9", "h264"), "mp4": ("h264", "vp9")}
_PREFIX_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


class SimulateError(Exception):
    """A run that cannot start: bad options, no server to talk to, no media."""


@dataclass(frozen=True, slots=True)
class SimulateOptions:
    """What to offer. Seconds for times, bytes for sizes, bits per second for `bitrate`."""

    url: str
    clients: int = 1
    duration: float = 10.0
    interval: float = 1.0
    bitrate: int = 2_000_000
    chunk_bytes: int | None = None
    realtime: bool = False
    window: int = 1
    codec: str = "vp8"
    container: str = "webm"
    token: str | None = None  # sent as Socket.IO `auth.token` and as a Bearer for downloads
    media: Path | None = None
    verify: bool = False
    id_prefix: str = "sim"
    answers: str = "ack"  # "ack": acknowledgements; "event": the spec's reply events only
    timeout: float = 60.0
    seed: int = 1
    ffmpeg: str | None = None

    @property
    def server_url(self) -> str:
        """`url` as the client connects to it: `ws://host:8000/recording`, the spec's form,
        becomes `http://host:8000`."""
        parts = urlsplit(self.url)
        path = parts.path.rstrip("/").removesuffix(NAMESPACE)
        return urlunsplit((_SCHEMES.get(parts.scheme, parts.scheme), parts.netloc, path, "", ""))

    def check(self) -> None:
        """Raise SimulateError naming every value no run can use."""
        problems = [
            (self.clients < 1, "--clients must be at least 1"),
            (self.duration <= 0 or self.interval <= 0, "--duration and --interval must be > 0"),
            (self.window < 1, "--window must be at least 1"),
            (self.chunk_bytes is not None and self.chunk_bytes < 1, "--chunk-bytes must be > 0"),
            (self.codec not in CODECS, f"--codec must be one of {', '.join(CODECS)}"),
            (
                self.container not in CONTAINERS,
                f"--container must be one of {', '.join(CONTAINERS)}",
            ),
            (
                self.codec in CODECS and self.codec not in CONTAINERS.get(self.container, CODECS),
                f"--codec {self.codec} cannot go in --container {self.container}: no browser "
                f"records it (MP4 takes {' or '.join(CONTAINERS['mp4'])})",
            ),
            (self.answers not in ("ack", "event"), "--answers must be ack or event"),
            (not _PREFIX_RE.fullmatch(self.id_prefix), "--id-prefix: 1-64 of A-Z a-z 0-9 _ -"),
            (urlsplit(self.url).scheme not in _SCHEMES, "--url must be http(s):// or ws(s)://"),
        ]
        if found := [message for bad, message in problems if bad]:
            raise SimulateError("; ".join(found))
