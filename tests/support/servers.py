"""`python -m screenrec serve` subprocesses on free ports: started, waited for by their ready
line, their output pumped in a thread, and stopped by PID."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

READY_RE = re.compile(r"screenrec listening on (http://\S+)")
START_TIMEOUT = 30.0


@dataclass
class Server:
    """A `screenrec serve` subprocess on a free port."""

    proc: subprocess.Popen[str]
    url: str
    data_dir: Path
    log: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send `sig` and return the exit code."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        return self.proc.wait(timeout=timeout)

    @property
    def storage(self) -> Path:
        """The default local media directory (when no `--storage` was given)."""
        return self.data_dir / "recordings"

    def wait_for_log(self, text: str, timeout: float = 10.0) -> str:
        """The first output line containing `text`, waiting (bounded) for it to appear."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in list(self.log):
                if text in line:
                    return line
            time.sleep(0.01)  # the output pump thread appends as lines arrive
        raise AssertionError(f"{text!r} never appeared in the server's output")

    def close(self) -> None:
        """Kill the process if it still runs and release its pipe and pump thread."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.pump is not None:
            self.pump.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_server(
    data_dir: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
    port: int = 0,
) -> Server:
    """Start `python -m screenrec serve` (on a free port unless `port` is given) and wait for
    its ready line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "screenrec", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data_dir), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})}, preexec_fn=preexec_fn,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    end = time.monotonic() + START_TIMEOUT
    while time.monotonic() < end:
        if not sel.select(timeout=end - time.monotonic()):
            break
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if m := READY_RE.search(line):
            sel.close()
            server = Server(proc, m.group(1), data_dir, lines)
            _drain_output(server)
            return server
    proc.kill()
    proc.wait()
    raise RuntimeError("screenrec serve did not start:\n" + "".join(lines))


def _drain_output(server: Server) -> None:
    """Keep reading the server's output in a thread so its pipe never fills."""

    def pump() -> None:
        assert server.proc.stdout is not None
        for line in server.proc.stdout:
            server.log.append(line)

    server.pump = threading.Thread(target=pump, daemon=True)
    server.pump.start()


class ServerFactory:
    """Starts servers with default options on a default data dir; `close()` ends them all."""

    def __init__(self, data_dir: Path, *options: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.options = options
        self.env = env or {}
        self.started: list[Server] = []

    def __call__(
        self,
        *extra: str,
        data_dir: Path | None = None,
        env: dict[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
        port: int = 0,
    ) -> Server:
        """Start one server; `extra` CLI args come after the factory's own options."""
        server = start_server(data_dir or self.data_dir, *self.options, *extra,
                              env={**self.env, **(env or {})}, preexec_fn=preexec_fn,
                              port=port)  # fmt: skip
        self.started.append(server)
        return server

    def close(self) -> None:
        """Stop every server this factory started."""
        for server in self.started:
            server.close()
