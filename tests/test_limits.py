"""Configured limits answer `limit_exceeded` and touch nothing else."""

from __future__ import annotations

import pytest
import socketio

from tests.support.clients import Client
from tests.support.media import cut


async def test_connection_limit_refuses_one_more(server_factory, client_factory) -> None:
    server = server_factory("--max-connections", "2")
    await client_factory(server.url)
    second = await client_factory(server.url)
    refusals: list = []
    extra = Client(server.url)
    extra.sio.on("connect_error", refusals.append, namespace="/recording")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await extra.connect()
    assert refusals and refusals[0]["data"]["code"] == "limit_exceeded"
    await second.close()
    third = await client_factory(server.url)  # a freed slot is usable again
    assert third.connected


async def test_recordings_per_connection_and_bytes_per_recording(
    server_factory, client_factory, webm: bytes
) -> None:
    server = server_factory("--max-recordings-per-connection", "2", "--max-recording-bytes", "100k")
    client = await client_factory(server.url)
    for rid in ("one", "two"):
        assert (await client.call("start", {"recordId": rid}))["nextIndex"] == 0
    answer = await client.call("start", {"recordId": "three"})
    assert answer["error"]["code"] == "limit_exceeded"
    assert (await client.next("exception"))["recordId"] == "three"
    assert (await client.call("start", {"recordId": "one"}))["nextIndex"] == 0  # not a new one
    other = await client_factory(server.url)
    assert (await other.call("start", {"recordId": "three"}))["nextIndex"] == 0

    pieces = cut(webm, 30)  # ~46 KB each: the third passes 100 kB
    for seq in range(2):
        await client.call("chunk", {"recordId": "one", "chunk": pieces[seq], "seq": seq})
    refused = await client.call("chunk", {"recordId": "one", "chunk": pieces[2], "seq": 2})
    assert refused["error"]["code"] == "limit_exceeded"
    again = await client.call("chunk", {"recordId": "one", "chunk": pieces[1], "seq": 1})
    assert again["index"] == 1  # a retry of a stored chunk is not new bytes
    finished = await client.call("stop", {"recordId": "one"})
    assert finished["chunks"] == 2
