"""Which chunks make the final, in which order, and which of ffmpeg's words reach the user."""

from __future__ import annotations

from screenrec.errors import FinalizeFailed
from screenrec.models import Chunk, ranges


def plan_final(rows: list[Chunk], present: set[int]) -> tuple[list[int], list[str]]:
    """Order stored chunks for the final (by the client's seq when every chunk has one, else by
    arrival index) and describe what is missing. Returns (indices in order, warnings)."""
    warnings: list[str] = []
    by_seq = bool(rows) and all(c.seq is not None for c in rows)
    ordered_rows = sorted(rows, key=lambda c: c.seq if by_seq else c.index)
    lost = [c.index for c in ordered_rows if c.index not in present]
    if lost:
        warnings.append(f"stored chunks missing from storage: {ranges(lost)}")
    if by_seq:
        seqs = {c.seq for c in rows}
        gaps = [s for s in range(max(seqs) + 1) if s not in seqs]  # type: ignore[type-var]
        if gaps:
            warnings.append(f"chunks never received (seq): {ranges(gaps)}")
    ordered = [c.index for c in ordered_rows if c.index in present]
    if ordered and ordered_rows[0].index not in present:
        raise FinalizeFailed("the first chunk (with the WebM header) is missing")
    return ordered, warnings


def describe_ffmpeg_warnings(lines: list[str]) -> list[str]:
    """The few ffmpeg warnings worth a user's attention, deduplicated."""
    out: list[str] = []
    for line in lines:
        if "prematurely" in line or "truncat" in line.lower():
            text = "the last chunk was cut short; the recording was kept up to that point"
        elif "Non-monotonic" in line or "Invalid" in line or "error" in line.lower():
            text = f"ffmpeg: {line}"
        else:
            continue
        if text not in out:
            out.append(text)
    return out[:3]
