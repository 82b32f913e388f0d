"""What a recording is, from the bytes of its first chunk: the container (sniffed) and the
codec of each track (read from the init segment). Pure and byte-level: no ffmpeg, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from screenrec.media import mp4, webm

_FTYP = b"ftyp"
_MAX_FTYP = 4096  # an ftyp box is a few dozen bytes; a larger size means it is not one
# HEIF and AVIF still images also open with ftyp; they are not recordings.
_IMAGE_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"}


class Container(StrEnum):
    """The container a browser recorded into: EBML with DocType webm or matroska, or MP4."""

    WEBM = "webm"
    MATROSKA = "matroska"
    MP4 = "mp4"

    @property
    def is_ebml(self) -> bool:
        """WebM and Matroska share one byte format (and ffmpeg demuxer)."""
        return self is not Container.MP4


@dataclass(frozen=True, slots=True)
class Track:
    """One audio or video track: `kind` is "video" or "audio", `codec` ffmpeg's codec name
    (`h264`, `vp8`, `opus`, ...) or, for one we do not know, the container's own id for it."""

    kind: str
    codec: str


@dataclass(frozen=True, slots=True)
class InitInfo:
    """The container and tracks read from the start of a recording. `complete` is False when
    the bytes ended inside the init segment: the tracks are those read so far."""

    container: Container
    tracks: tuple[Track, ...]
    complete: bool

    @property
    def video_codec(self) -> str | None:
        """The first video track's codec, None without one."""
        return next((t.codec for t in self.tracks if t.kind == "video"), None)

    @property
    def audio_codec(self) -> str | None:
        """The first audio track's codec, None without one."""
        return next((t.codec for t in self.tracks if t.kind == "audio"), None)


def _sniff_ebml(head: bytes) -> Container | None:
    try:
        name = webm.doc_type(head)
    except ValueError:  # Truncated included: not (yet) a container we know
        return None
    return {"webm": Container.WEBM, "matroska": Container.MATROSKA}.get(name)


def _sniff_mp4(head: bytes) -> Container | None:
    size = int.from_bytes(head[:4], "big")
    if head[4:8] != _FTYP or not 16 <= size <= _MAX_FTYP or len(head) < 12:
        return None
    return None if head[8:12] in _IMAGE_BRANDS else Container.MP4


def sniff(head: bytes) -> Container | None:
    """The container of a recording whose bytes start with `head`: EBML magic `1A 45 DF A3`
    then the header's DocType (`webm`, `matroska`), or an MP4 `ftyp` box at offset 4.

    None when `head` is not one of those, or too short to tell (see `needs_more`)."""
    if head.startswith(webm.MAGIC):
        return _sniff_ebml(head)
    return _sniff_mp4(head)


def needs_more(head: bytes) -> bool:
    """True when `head` is too short to name its container but could still become one: a
    proper prefix of an EBML header (cut before its DocType) or of an `ftyp` box header.
    Empty bytes need more (Safari sends 0-byte chunks); a PNG or random bytes do not."""
    if sniff(head) is not None:
        return False
    if len(head) < len(webm.MAGIC) and webm.MAGIC.startswith(head):
        return True
    if head.startswith(webm.MAGIC):
        try:
            webm.doc_type(head)
        except webm.Truncated:
            return True
        except ValueError:
            return False
        return False  # a whole header naming another DocType
    return _could_be_ftyp(head)


def _could_be_ftyp(head: bytes) -> bool:
    """`head` is shorter than an ftyp box's size, type and major brand, and matches them so far."""
    if len(head) >= 12:
        return False
    size = int.from_bytes(head[:4].ljust(4, b"\0"), "big")  # missing low bytes: any value
    if size > _MAX_FTYP or (len(head) >= 4 and size < 16):
        return False
    return _FTYP.startswith(head[4:8])


def read_init(head: bytes) -> InitInfo | None:
    """The container and the tracks of the init segment at the start of `head` (the first
    chunk, which may hold more than the init segment, or only part of it).

    None when `head` is not a container we know (see `sniff`)."""
    container = sniff(head)
    if container is None:
        return None
    reader = webm.read_tracks if container.is_ebml else mp4.read_tracks
    try:
        found, complete = reader(head)
    except ValueError:
        found, complete = [], False
    return InitInfo(container, tuple(Track(kind, codec) for kind, codec in found), complete)
