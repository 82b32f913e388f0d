"""Per-operation cost of the embedded state store on the chunk path (no server, no sockets).

    .venv/bin/python bench/store_ops.py [--chunks 5000] [--dir /dev/shm]

Reserves then commits `--chunks` chunks of one recording through `SqliteStore`, as the server's
event loop does, and prints microseconds per reserve and per commit. Used to size what the
chunk path spends in SQLite (docs/architecture.md, State).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from screenrec.config import Settings
from screenrec.store.sqlite_store import SqliteStore

LIMIT = Settings().max_recording_bytes  # checked on every reservation, as the server does


async def measure(directory: str, chunks: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        store = SqliteStore(Path(tmp) / "state.sqlite3")
        try:
            await store.start("bench", time.time())
            began = time.perf_counter()
            for i in range(chunks):
                await store.reserve_chunk("bench", i, 262_144, time.time(), LIMIT)
            reserved = time.perf_counter()
            for i in range(chunks):
                await store.commit_chunk("bench", i, time.time())
            committed = time.perf_counter()
        finally:
            await store.close()
    return (reserved - began) / chunks * 1e6, (committed - reserved) / chunks * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=5000)
    parser.add_argument("--dir", default="/dev/shm", help="where the database goes")
    args = parser.parse_args()
    reserve, commit = asyncio.run(measure(args.dir, args.chunks))
    print(f"sqlite, {args.chunks} chunks in {args.dir}: reserve {reserve:.1f} us, "
          f"commit {commit:.1f} us per chunk")  # fmt: skip


if __name__ == "__main__":
    main()
