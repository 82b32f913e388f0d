"""Fixtures: a real WebM from ffmpeg, real `screenrec serve` processes on every store x storage
combination, real Socket.IO clients, Redis and SeaweedFS. The machinery is in `tests/support`;
the names other test modules import from here are re-exported below."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.backends import (
    BACKENDS,
    S3_CREDENTIALS,
    Backend,
    BucketFiles,
    DirFiles,
    RedisServer,
    WeedMini,
)
from tests.support.clients import Client, record
from tests.support.media import cut, find_ffmpeg, make_webm, probe
from tests.support.node import find_node
from tests.support.servers import Server, ServerFactory

# test_cli.py and test_cli_admin.py import these from here; other modules use tests.support.
__all__ = ["Server", "cut", "probe", "record"]

# -- media ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """The ffmpeg the server will use (PATH or the imageio-ffmpeg wheel); fails with a hint."""
    return find_ffmpeg()


@pytest.fixture(scope="session")
def webm_path(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> Path:
    """10 s of test video (300 frames) as one live WebM stream, in a file."""
    path = tmp_path_factory.mktemp("media") / "source.webm"
    make_webm(ffmpeg, path, 10)
    return path


@pytest.fixture(scope="session")
def webm(webm_path: Path) -> bytes:
    """The bytes of `webm_path`."""
    return webm_path.read_bytes()


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> bytes:
    """3 s of small test video (90 frames) for the in-process tier."""
    return make_webm(ffmpeg, tmp_path_factory.mktemp("clip") / "clip.webm", 3, bitrate=200_000)


@pytest.fixture(scope="session")
def node() -> str:
    """`node` with socket.io-client 4.x installed in tests/node."""
    return find_node()


# -- servers and clients -------------------------------------------------------------------


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start servers (each stopped by PID at teardown); extra CLI args pass through."""
    factory = ServerFactory(tmp_path / "data")
    yield factory
    factory.close()


@pytest.fixture
def server(server_factory: ServerFactory) -> Server:
    """One server with default settings (SQLite, local disk) on a fresh data dir."""
    return server_factory()


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
    """A client connected to `server`."""
    return await client_factory(server.url)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp session for REST calls."""
    async with aiohttp.ClientSession() as session:
        yield session


# -- backends ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session, stopped by PID at the end."""
    server = RedisServer.spawn(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def weed_mini(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeedMini]:
    """One SeaweedFS S3 gateway for the session, stopped by PID at the end."""
    weed = WeedMini.spawn(tmp_path_factory.mktemp("weed"))
    yield weed
    weed.stop()


@pytest.fixture
def s3_bucket(weed_mini: WeedMini, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket for one test, with the AWS variables set to weed's credentials."""
    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    weed_mini.create_bucket(bucket)
    return bucket


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """One store x storage combination (ids `sqlite-local` ... `redis-s3`), fresh for the test:
    an empty Redis database, a new bucket or directory."""
    store, storage = request.param.split("-")
    options: list[str] = []
    env: dict[str, str] = {}
    redis = None
    if store == "redis":
        redis = request.getfixturevalue("redis_server")
        redis.flush()
        options += ["--redis-url", redis.url]
    if storage == "s3":
        weed: WeedMini = request.getfixturevalue("weed_mini")
        bucket = request.getfixturevalue("s3_bucket")
        options += ["--storage", f"s3://{bucket}/media", "--s3-endpoint-url", weed.endpoint]
        env = dict(S3_CREDENTIALS)
        files: Any = BucketFiles(weed, bucket, "media")
    else:
        files = DirFiles(tmp_path / "media")
        options += ["--storage", str(files.root)]
    return Backend(request.param, files, options, env, redis)


@pytest.fixture
def backend_servers(backend: Backend, tmp_path: Path) -> Iterator[ServerFactory]:
    """Start servers on `backend` (all on one data dir unless told otherwise)."""
    factory = ServerFactory(tmp_path / "data", *backend.options, env=backend.env)
    yield factory
    factory.close()


@pytest.fixture
def backend_server(backend_servers: ServerFactory) -> Server:
    """One server on `backend`."""
    return backend_servers()
