"""How the CLI shows things to people: sizes in MB (decimal, like the recorder page), durations,
local times, the recordings table that never cuts an id, one recording, a purge plan. Values are
rich Text, never markup, so `[...]` in an id or a message prints as it is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from screenrec.models import ranges

STATE_STYLES = {"ready": "green", "failed": "red", "processing": "yellow", "recording": "cyan"}


def size(n: object) -> str:
    """Bytes in decimal megabytes, as the recorder page shows them: `4.2 MB`, `0.012 MB`."""
    if not isinstance(n, int):
        return "-"
    mb = n / 1e6
    return "0 MB" if n == 0 else f"{mb:.1f} MB" if mb >= 0.1 else f"{mb:.3f} MB"


def duration(ms: object) -> str:
    """Milliseconds as `m:ss.s`."""
    if not isinstance(ms, int | float):
        return "-"
    seconds = ms / 1000
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def local_time(iso_time: object, *, seconds: bool = True) -> str:
    """`2026-11-26T01:32:18.354Z` in this machine's time zone: `2026-11-26 02:32:18`."""
    if not isinstance(iso_time, str):
        return "-"
    when = datetime.fromisoformat(iso_time.replace("Z", "+00:00")).astimezone()
    return when.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def state(name: object) -> Text:
    """A recording state, coloured."""
    return Text(str(name), style=STATE_STYLES.get(str(name), ""))


# The columns of `list`: name, cell of a status document, and whether the default view may
# drop it to keep ids whole (dropped from the end of DROP_ORDER first).
_COLUMNS: dict[str, Any] = {
    "id": lambda d: Text(d["recordId"]),
    "status": lambda d: state(d["status"]),
    "format": lambda d: Text(d.get("format") or "-"),
    "chunks": lambda d: Text(str(d["chunks"]), justify="right"),
    "size": lambda d: Text(size(d.get("finalBytes") or d.get("bytes")), justify="right"),
    "duration": lambda d: Text(duration(d.get("durationMs")), justify="right"),
    "created": lambda d: Text(local_time(d.get("createdAt"), seconds=False)),
    "last activity": lambda d: Text(local_time(d.get("updatedAt"), seconds=False)),
}
_KEEP_LONGEST = (
    "id", "status", "size", "created", "format", "duration", "chunks", "last activity",
)  # fmt: skip
_GAP = 3  # characters between two columns: padding 1 + the (blank) rule + padding 1


def _width(columns: list[str], widths: dict[str, int]) -> int:
    return sum(widths[c] for c in columns) + _GAP * (len(columns) - 1)


def print_recordings(docs: list[Mapping[str, Any]], console: Console, *, wide: bool) -> None:
    """The `list` table. Ids are never cut: the least useful columns make room first (unless
    `wide`), and a table still too wide is printed wider than the console, not squeezed."""
    widths = {
        name: max(len(name), *(len(cell(d)) for d in docs)) for name, cell in _COLUMNS.items()
    }
    wanted = list(_KEEP_LONGEST)
    while not wide and len(wanted) > 2 and _width(wanted, widths) > console.width:
        wanted.pop()
    columns = [name for name in _COLUMNS if name in wanted]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    for name in columns:
        table.add_column(name, no_wrap=True, justify="right" if name == "chunks" else "left")
    for doc in docs:
        table.add_row(*(_COLUMNS[name](doc) for name in columns))
    needed = _width(columns, widths)
    if needed > console.width:  # rich never prints wider than its console: use a wider one
        console = Console(file=console.file, width=needed, force_terminal=console.is_terminal,
                          no_color=console.no_color, highlight=False)  # fmt: skip
    console.print(table)


def _lines(items: Iterable[object]) -> Text:
    return Text("\n".join(f"- {item}" for item in items))


def recording_view(doc: Mapping[str, Any]) -> Table:
    """One recording (a status document, with `chunkIndices`, `problems` and codecs when read
    locally) as label/value rows, in the units `list` uses."""
    grid = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    status = state(doc["status"])
    if doc.get("warnings"):
        status.append(f" ({len(doc['warnings'])} warning(s))", style="yellow")
    rows: list[tuple[str, Text | str]] = [("recording", Text(doc["recordId"])), ("status", status)]
    chunks = f"{doc['chunks']} stored, {size(doc.get('bytes'))}"
    if doc["status"] == "recording":
        chunks += f"; next index {doc.get('nextIndex')}"
    rows.append(("chunks", chunks))
    if "chunkIndices" in doc:
        indices = doc["chunkIndices"]
        rows.append(("chunk files", ranges(indices) if indices else "none"))
    if "finalBytes" in doc:
        rows.append(("final", size(doc["finalBytes"])))
    if "durationMs" in doc:
        rows.append(("duration", duration(doc["durationMs"])))
    if doc.get("format"):
        rows.append(("format", str(doc["format"])))
    if doc.get("videoCodec") or doc.get("audioCodec"):
        rows.append(("codecs", f"{doc.get('videoCodec') or '-'} / {doc.get('audioCodec') or '-'}"))
    rows += [("created", local_time(doc.get("createdAt"))),
             ("last activity", local_time(doc.get("updatedAt")))]  # fmt: skip
    if "downloadUrl" in doc:
        rows.append(("download", Text(str(doc["downloadUrl"]))))
    if doc.get("posterUrl"):
        rows.append(("poster", Text(str(doc["posterUrl"]))))
    for kind, found in doc.get("derivatives", {}).items():
        detail = found.get("url") or found.get("error") or ""
        rows.append((f"{kind} copy", Text(f"{found['status']} {detail}".strip())))
    if doc.get("error"):
        rows.append(("error", Text(str(doc["error"]), style="red")))
    for label, key in (("warnings", "warnings"), ("problems", "problems")):
        if doc.get(key):
            rows.append((label, _lines(doc[key])))
    for label, value in rows:
        grid.add_row(label, value if isinstance(value, Text) else Text(value))
    return grid


def health_view(doc: Mapping[str, Any]) -> Table:
    """A server's `/healthz` answer as label/value rows."""
    grid = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    healthy = doc.get("status") == "ok"
    grid.add_row("status", Text(str(doc.get("status")), style="green" if healthy else "red"))
    for reason in doc.get("reasons", []):
        text = reason.get("message", reason) if isinstance(reason, dict) else reason
        grid.add_row("reason", Text(str(text), style="red"))
    for key in ("version", "store", "storage"):
        grid.add_row(key, Text(str(doc.get(key, "-"))))
    grid.add_row("capabilities", Text(", ".join(doc.get("capabilities", []))))
    for key, value in doc.get("config", {}).items():
        grid.add_row(key, Text(_config_value(key, value)))
    return grid


def _config_value(key: str, value: object) -> str:
    if isinstance(value, bool) or value is None:
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if key.endswith("Bytes"):
        return size(value)
    if key.endswith("Seconds") and isinstance(value, int | float):
        return f"{value:g} s"
    return str(value)


def purge_table(chosen: list[tuple[str, str, int]], skipped: list[tuple[str, str]]) -> Table:
    """What a purge deletes (id, state, size) and what it skips and why."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    table.add_column("id", no_wrap=True, overflow="fold")
    table.add_column("status")
    table.add_column("size", justify="right")
    table.add_column("action")
    for record_id, status, nbytes in chosen:
        table.add_row(Text(record_id), state(status), size(nbytes), "delete")
    for record_id, reason in skipped:
        table.add_row(Text(record_id), "-", "-", Text(f"skip: {reason}", style="yellow"))
    return table
