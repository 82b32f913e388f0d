"""A seekable WebM final assembled from its chunk files without ffmpeg: the head the index
writes (sizes, Duration, Cues), then the cluster bytes copied file to file by the kernel
(`copy_file_range`), never through Python."""

from __future__ import annotations

import os
from pathlib import Path

from screenrec.media.webm_index import WebmIndex, WebmIndexer
from screenrec.media.webm_writer import seekable_head


def read_prefix(paths: list[Path], length: int) -> bytes:
    """The first `length` bytes of the stream the files make one after another."""
    out = bytearray()
    for path in paths:
        if len(out) >= length:
            break
        with open(path, "rb") as handle:
            out += handle.read(length - len(out))
    return bytes(out)


def scan_index(paths: list[Path], block: int = 1 << 20) -> WebmIndex | None:
    """The index of the stream `paths` make, read from them now (a recording this process
    did not see from its first chunk). Blocking: run it in a thread."""
    indexer = WebmIndexer()
    for path in paths:
        with open(path, "rb") as handle:
            while data := handle.read(block):
                indexer.feed(data)
    return indexer.finish()


def assemble(paths: list[Path], index: WebmIndex, output: Path) -> int:
    """Write the final of the stream `paths` make to `output` (a new file); return its size.
    Blocking: run it in a thread."""
    sizes = [path.stat().st_size for path in paths]
    total = sum(sizes)
    head = seekable_head(read_prefix(paths, index.init_end), index, total)
    with open(output, "wb") as out:
        out.write(head)
        out.flush()
        written = len(head) + total - index.init_end
        skip = index.init_end  # the init segment is in the head already
        for path, size in zip(paths, sizes, strict=True):
            if skip >= size:
                skip -= size
                continue
            with open(path, "rb") as source:
                _copy(source.fileno(), out.fileno(), skip, size - skip)
            skip = 0
        os.fsync(out.fileno())
    return written


def _copy(source: int, target: int, offset: int, count: int) -> None:
    """`count` bytes of `source` from `offset` to the end of `target`: in the kernel where it
    can (no copy through user space), else by reading and writing."""
    try:
        while count > 0:
            done = os.copy_file_range(source, target, count, offset)
            if done == 0:
                raise OSError("copy_file_range copied nothing: the source is shorter")
            offset, count = offset + done, count - done
    except OSError as exc:
        if getattr(exc, "errno", None) is None or count <= 0:
            raise
        os.lseek(source, offset, os.SEEK_SET)
        while count > 0:
            block = os.read(source, min(count, 1 << 20))
            if not block:
                raise OSError("the source is shorter than its size") from exc
            os.write(target, block)
            count -= len(block)
