"""The incremental indexes of the WebM recordings this process is receiving: each fed its
recording's chunks in the order their indices were handed out, so that `stop` can write a
seekable final without an ffmpeg pass when what was fed is exactly what was stored."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from screenrec.media.webm_index import WebmIndex, WebmIndexer

log = logging.getLogger("screenrec")
EBML_CONTAINERS = frozenset({"webm", "matroska"})


@dataclass
class _Fed:
    indexer: WebmIndexer = field(default_factory=WebmIndexer)
    chunks: list[tuple[int, int]] = field(default_factory=list)  # (index, size), non-empty
    broken: bool = False  # a fed chunk was not stored, or the indexer failed: do not trust it


class StreamIndexes:
    """One index per live WebM recording in this process. An index starts with the
    recording's first chunk; a recording first seen here later (a restart, another instance)
    has none, and finalize rebuilds one from storage or leaves the work to ffmpeg."""

    def __init__(self) -> None:
        self._fed: dict[str, _Fed] = {}

    def start(self, record_id: str, container: str | None) -> None:
        """The recording's first chunk is about to be fed: index it if it is WebM/Matroska."""
        if container in EBML_CONTAINERS:
            self._fed[record_id] = _Fed()

    def feed(self, record_id: str, index: int, data: bytes) -> None:
        """Chunk `index` was just reserved (reservations come in the client's order)."""
        fed = self._fed.get(record_id)
        if fed is None or fed.broken or not data:
            return
        fed.chunks.append((index, len(data)))
        try:
            fed.indexer.feed(data)
        except Exception:  # a bug in the indexer must never cost a chunk
            log.exception("%s: indexing failed; finalize will use ffmpeg", record_id)
            fed.broken = True

    def spoil(self, record_id: str) -> None:
        """A fed chunk was not stored: what was fed is no longer the stream."""
        if (fed := self._fed.get(record_id)) is not None:
            fed.broken = True

    def take(self, record_id: str, stored: list[tuple[int, int]]) -> WebmIndex | None:
        """The recording's index if it was fed exactly `stored` ((index, size) of the final's
        chunks, in order; empty ones are ignored), else None. Forgets the recording."""
        fed = self._fed.pop(record_id, None)
        if fed is None or fed.broken:
            return None
        if fed.chunks != [(i, size) for i, size in stored if size]:
            return None
        return fed.indexer.finish()  # the stream has ended: a cut-short tail is a problem

    def current(self, record_id: str) -> WebmIndex | None:
        """The recording's index as fed so far (None without a trustworthy one)."""
        fed = self._fed.get(record_id)
        return None if fed is None or fed.broken else fed.indexer.index

    def drop(self, record_id: str) -> None:
        """Forget the recording (purged)."""
        self._fed.pop(record_id, None)
