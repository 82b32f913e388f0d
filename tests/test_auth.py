"""Access control: tokens on Socket.IO and REST, rotation, signed and expiring download links."""

from __future__ import annotations

import time

import aiohttp
import pytest
import socketio
from yarl import URL

from screenrec.links import Links
from tests.support.clients import Client, record
from tests.support.media import cut
from tests.support.servers import Server

OLD, NEW = "old-token-1", "new-token-2"


@pytest.fixture
def guarded(server_factory) -> Server:
    return server_factory("--token", OLD, "--token", NEW)


async def connect(server: Server, auth: object, refusals: list | None = None) -> Client:
    client = Client(server.url)
    if refusals is not None:
        client.sio.on("connect_error", refusals.append, namespace="/recording")
    await client.sio.connect(
        server.url, namespaces=["/recording"], transports=["websocket"], auth=auth,
        wait_timeout=10,
    )  # fmt: skip
    return client


@pytest.mark.parametrize("auth", [None, {}, {"token": "wrong"}, {"token": 42}, "old-token-1"])
async def test_socketio_refuses_connections_without_a_valid_token(
    guarded: Server, auth: object
) -> None:
    refusals: list = []
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(guarded, auth, refusals)
    assert refusals and refusals[0]["data"]["code"] == "unauthorized"  # structured, not parsed


async def test_every_configured_token_works_and_links_are_signed(
    guarded: Server, webm: bytes, http: aiohttp.ClientSession
) -> None:
    for token in (OLD, NEW):  # rotation: both accepted
        client = await connect(guarded, {"token": token})
        await client.close()
    client = await connect(guarded, {"token": NEW})
    try:
        finished = await record(client, "private", cut(webm, 4))
    finally:
        await client.close()
    link = finished["downloadUrl"]
    assert link.startswith("/recordings/download/private%2Ffinal.webm?expires=")
    assert "&sig=" in link

    async with http.get(URL(guarded.url + link, encoded=True)) as resp:  # no token needed
        assert resp.status == 200 and len(await resp.read()) > 0
    tampered = link[:-4] + ("0000" if not link.endswith("0000") else "1111")
    async with http.get(URL(guarded.url + tampered, encoded=True)) as resp:
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
    expired = Links((OLD,), ttl=60).download("private/final.webm", now=time.time() - 3600)
    async with http.get(URL(guarded.url + expired, encoded=True)) as resp:
        assert resp.status == 401
    other = Links((OLD,), ttl=60).download("someone-else/final.webm")
    async with http.get(
        URL(guarded.url + link.replace("private", "someone-else"), encoded=True)
    ) as resp:
        assert resp.status == 401  # a signature is for one key only
    async with http.get(URL(guarded.url + other, encoded=True)) as resp:
        assert resp.status == 404  # validly signed, but there is no such recording


async def test_rest_needs_a_bearer_token_except_healthz(
    guarded: Server, http: aiohttp.ClientSession
) -> None:
    for path in (
        "/recordings",
        "/recordings/x/status",
        "/metrics",
        "/recordings/download/x%2Ffinal.webm",
    ):
        async with http.get(guarded.url + path) as resp:
            assert resp.status == 401, path
            assert resp.headers["WWW-Authenticate"] == "Bearer"
            assert (await resp.json())["error"]["code"] == "unauthorized"
    async with http.delete(guarded.url + "/recordings/x") as resp:
        assert resp.status == 401
    async with http.get(
        guarded.url + "/recordings", headers={"Authorization": "Bearer nope"}
    ) as resp:
        assert resp.status == 401
    for token in (OLD, NEW):
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(guarded.url + "/recordings", headers=headers) as resp:
            assert resp.status == 200
    async with http.get(guarded.url + "/healthz") as resp:
        assert resp.status == 200
    secrets_logged = [line for line in guarded.log if OLD in line or NEW in line]
    assert secrets_logged == []


async def test_without_a_token_the_server_says_it_is_open(server: Server) -> None:
    assert "no --token" in server.wait_for_log("open to everyone")
