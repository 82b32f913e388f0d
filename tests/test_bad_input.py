"""Bad input over Socket.IO: every one is answered with an `exception` event and an error ack,
the connection stays up, a recording streaming on the same connection is unaffected, and
nothing lands on disk outside the data directory."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.clients import Client, record
from tests.support.media import cut
from tests.support.servers import Server

NS = "/recording"
REPLY_TIMEOUT = 10.0
VALID_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")  # the contract, restated (not imported)
MISSING = object()  # "leave this key out of the payload"

BYSTANDER = "bystander"  # streams a whole recording while the bad input goes by
LIVE = "live"  # started, one chunk with seq 0: target of the chunk/seq/stop cases
DONE = "done"  # finished before the bad input starts
AFTER = "after"  # started at the end: a valid call still works
UNKNOWN = "neverStarted"
LEGIT_IDS = {BYSTANDER, LIVE, DONE, AFTER}

NON_OBJECTS: list[tuple[str, tuple[Any, ...]]] = [
    ("no payload", ()),
    ("a string", ("abc123",)),
    ("a number", (42,)),
    ("a list", ([{"recordId": "abc123"}],)),
    ("null", (None,)),
    ("a boolean", (True,)),
]
NON_STRING_IDS: list[tuple[str, Any]] = [
    ("missing", MISSING),
    ("a number", 7),
    ("a list", ["abc"]),
    ("a dict", {"id": "abc"}),
    ("null", None),
    ("a boolean", True),
]
NOT_BINARY: list[tuple[str, Any]] = [
    ("a string", "GkXfo59ChoEBQveBAULygQRC84EIQoKEd2VibUKHgQRChYEC"),
    ("a list of ints", [26, 69, 223, 163]),
    ("a number", 12345),
    ("a dict", {"type": "Buffer", "data": [26, 69, 223, 163]}),
    ("missing", MISSING),
    ("null", None),
]
BAD_SEQS: list[Any] = [-1, "1", 1.5, True, 2**60, 1e20]
BAD_COUNTS: list[Any] = [-1, "3", 1.5, True]


def hostile_ids(tmp_path: Path) -> list[str]:
    """Ids outside [A-Za-z0-9_-]{1,128}, most of them shaped to escape a naive path join."""
    return [
        "",
        "a" * 129,
        "a b",
        "../x",
        "a/b",
        "é",
        "abc\x00",
        ".",
        "..",
        "abc\n",
        "../escaped-up",
        "../../escaped-up2",
        "../../../escaped-up3",
        "nest/escaped-in",
        "..\\escaped-win",
        "%2e%2e%2fescaped-pct",
        str(tmp_path / "escaped-abs"),  # absolute: Path(root) / id would be this very path
    ]


@dataclass(frozen=True)
class Case:
    label: str
    event: str
    args: tuple[Any, ...]  # the Socket.IO arguments exactly as sent
    code: str

    @property
    def sent_id(self) -> Any:
        if self.args and isinstance(self.args[0], dict):
            return self.args[0].get("recordId", MISSING)
        return MISSING


def payload(record_id: Any = MISSING, **fields: Any) -> dict[str, Any]:
    """A payload dict; fields set to MISSING are left out."""
    body = {"recordId": record_id, **fields}
    return {k: v for k, v in body.items() if v is not MISSING}


def bad_cases(hostile: list[str]) -> list[Case]:
    cases: list[Case] = []

    def add(label: str, event: str, body: dict[str, Any], code: str) -> None:
        cases.append(Case(label, event, (body,), code))

    for event in ("start", "chunk", "stop"):
        for label, args in NON_OBJECTS:
            cases.append(Case(f"{event} with {label}", event, args, "invalid_payload"))
    for event in ("start", "chunk", "stop"):
        # A valid chunk, so only the id is wrong.
        extra = {"chunk": b"\x1a\x45\xdf\xa3"} if event == "chunk" else {}
        for label, rid in NON_STRING_IDS:
            add(f"{event} recordId {label}", event, payload(rid, **extra), "invalid_record_id")
        for rid in hostile:
            add(f"{event} recordId {rid!r:.60}", event, payload(rid, **extra), "invalid_record_id")
    for label, chunk in NOT_BINARY:
        add(f"chunk that is {label}", "chunk", payload(LIVE, chunk=chunk), "invalid_payload")
    for seq in BAD_SEQS:
        add(f"seq {seq!r}", "chunk", payload(LIVE, chunk=b"zz", seq=seq), "invalid_payload")
    for count in BAD_COUNTS:
        add(f"stop chunks={count!r}", "stop", payload(LIVE, chunks=count), "invalid_payload")
    add("chunk for an unknown id", "chunk", payload(UNKNOWN, chunk=b"x"), "not_started")
    add("stop for an unknown id", "stop", payload(UNKNOWN), "not_started")
    add("start a finished id", "start", payload(DONE), "already_finished")
    add("chunk for a finished id", "chunk", payload(DONE, chunk=b"x"), "already_finished")
    # LIVE got seq 0 with 5 bytes during setup.
    add("seq 0 again with 3 bytes", "chunk", payload(LIVE, chunk=b"abc", seq=0), "invalid_payload")
    return cases


async def raw_call(client: Client, event: str, args: tuple[Any, ...]) -> Any:
    """Emit exactly `args` (a tuple is spread by python-socketio: () sends no payload at all,
    (None,) sends null) and wait for the acknowledgement."""
    return await client.sio.call(event, args, namespace=NS, timeout=REPLY_TIMEOUT)


def rejection_problems(case: Case, exc: dict[str, Any], ack: Any) -> list[str]:
    """What is wrong with the `exception` event and the ack of one rejected call."""
    problems = []
    want = {"status": "error", "event": case.event, "code": case.code}
    got = {k: exc.get(k) for k in want}
    if got != want:
        problems.append(f"exception {got} != {want}")
    message = exc.get("message")
    if not isinstance(message, str) or not message:
        problems.append(f"exception message {message!r}")
    if "recordId" not in exc:
        problems.append("exception has no recordId key")
    echoed, sent = exc.get("recordId"), case.sent_id
    if isinstance(sent, str) and VALID_ID.fullmatch(sent):
        if echoed != sent:
            problems.append(f"recordId echoed as {echoed!r}, sent {sent!r}")
    elif echoed is not None and not (isinstance(echoed, str) and len(echoed) <= 128):
        problems.append(f"recordId echoed as {echoed!r:.80} (must be null or <= 128 chars)")
    if ack != {"error": {"code": case.code, "message": message}}:
        problems.append(f"ack {ack!r:.200}")
    return problems


def assert_nothing_escaped(tmp_path: Path, data_dir: Path, hostile: list[str]) -> None:
    """No file or directory named like a hostile id outside `recordings/`; `recordings/` holds
    only directories of the legitimate ids, each holding only chunk/final files."""
    recordings = data_dir / "recordings"
    leaves = {h.replace("\\", "/").rsplit("/", 1)[-1] for h in hostile} - {"", ".", ".."}
    media_name = re.compile(r"(chunk-\d+\.webm|final\.webm|.*\.tmp)")
    stray = []
    for root, dirs, files in os.walk(tmp_path):
        for name in dirs + files:
            path = Path(root) / name
            inside_recordings = path.is_relative_to(recordings)
            if name in leaves and not inside_recordings:
                stray.append(path)
            if name in files and media_name.fullmatch(name) and path.parent.parent != recordings:
                stray.append(path)  # e.g. id "." or ".." would put chunks beside recordings/
    assert not stray, f"files written where no recording belongs: {stray}"
    # '../../../escaped-up3' from recordings/ is one level above the test's tmp dir.
    assert not (tmp_path.parent / "escaped-up3").exists()

    # .scratch is LocalStorage's own temp dir for ffmpeg output; '.' is never in a recordId,
    # so it cannot collide with a recording.
    entries = {p.name: p for p in recordings.iterdir() if p.name != ".scratch"}
    assert all(p.is_dir() for p in entries.values()), entries
    assert all(VALID_ID.fullmatch(name) for name in entries), sorted(entries)
    assert set(entries) <= LEGIT_IDS, sorted(set(entries) - LEGIT_IDS)
    for folder in entries.values():
        names = [p.name for p in folder.iterdir()]
        assert all(re.fullmatch(r"chunk-\d+\.webm|final\.webm|poster\.jpg", n) for n in names), (
            names
        )


async def test_every_bad_input_is_rejected_and_nothing_else_is_affected(
    server: Server, client: Client, webm: bytes, tmp_path: Path
) -> None:
    sid = client.sio.get_sid(NS)
    assert sid
    # A finished recording and a live one with one seq'd chunk to aim the bad input at.
    done = await record(client, DONE, cut(webm, 3))
    assert done["status"] == "ready"
    assert await client.call("start", {"recordId": LIVE}) == {"recordId": LIVE, "nextIndex": 0}
    # Five bytes of a real recording's start: a first chunk must open a WebM or MP4 stream.
    ack = await client.call("chunk", {"recordId": LIVE, "chunk": webm[:5], "seq": 0})
    assert ack == {"recordId": LIVE, "index": 0, "seq": 0}

    hostile = hostile_ids(tmp_path)
    cases = bad_cases(hostile)
    # The bystander sends one chunk (not awaited) before every bad call, so its chunks are in
    # flight while the server rejects things on the same connection.
    pieces = cut(webm, len(cases) + 1, seed=5)
    assert await client.call("start", {"recordId": BYSTANDER}) == {
        "recordId": BYSTANDER,
        "nextIndex": 0,
    }
    loop = asyncio.get_running_loop()
    bystander_acks: list[asyncio.Future[Any]] = []

    async def bystander_chunk(piece: bytes) -> None:
        fut = loop.create_future()
        bystander_acks.append(fut)
        await client.emit("chunk", {"recordId": BYSTANDER, "chunk": piece},
                          callback=lambda answer, f=fut: f.set_result(answer))  # fmt: skip

    failures: list[str] = []
    for case, piece in zip(cases, pieces, strict=False):
        await bystander_chunk(piece)
        try:
            ack = await raw_call(client, case.event, case.args)
            rejected = isinstance(ack, dict) and "error" in ack
            exc = await client.next("exception", timeout=REPLY_TIMEOUT) if rejected else {}
        except Exception as error:  # socketio's TimeoutError, or a dropped connection
            raise AssertionError(f"{case.label}: no answer ({error!r})") from error
        if rejected:
            failures += [f"{case.label}: {p}" for p in rejection_problems(case, exc, ack)]
        else:
            failures.append(f"{case.label}: accepted, ack {ack!r:.200}")
        assert client.connected, f"disconnected after {case.label}"
        assert client.sio.get_sid(NS) == sid, f"new sid after {case.label}"
    await bystander_chunk(pieces[-1])
    assert not failures, "\n".join(failures)

    answers = await asyncio.wait_for(asyncio.gather(*bystander_acks), 30)
    assert answers == [{"recordId": BYSTANDER, "index": i} for i in range(len(pieces))]
    finished = await client.call("stop", {"recordId": BYSTANDER, "chunks": len(pieces)})
    assert finished["status"] == "ready", finished
    assert finished["chunks"] == len(pieces) and finished["bytes"] == len(webm)
    assert "warnings" not in finished, finished

    # Still the same connection, and valid calls work: rejected chunks took no index on LIVE.
    assert await client.call("start", {"recordId": LIVE}) == {"recordId": LIVE, "nextIndex": 1}
    assert await client.call("start", {"recordId": AFTER}) == {"recordId": AFTER, "nextIndex": 0}
    assert client.connected and client.sio.get_sid(NS) == sid
    assert client.events["exception"].empty(), client.events["exception"].get_nowait()

    assert_nothing_escaped(tmp_path, server.data_dir, hostile)


async def test_oversize_chunk_is_an_error_not_a_disconnect(
    server_factory: Callable[..., Server], client_factory: Callable[[str], Any], webm: bytes
) -> None:
    server = server_factory("--max-chunk-bytes", "100000")
    client: Client = await client_factory(server.url)
    sid = client.sio.get_sid(NS)
    await client.call("start", {"recordId": "big"})

    async def too_large(size: int) -> None:
        ack = await client.call("chunk", {"recordId": "big", "chunk": b"\0" * size})
        assert ack["error"]["code"] == "chunk_too_large", (size, ack)
        exc = await client.next("exception")
        assert exc["code"] == "chunk_too_large" and exc["event"] == "chunk", exc
        assert exc["status"] == "error" and exc["recordId"] == "big", exc
        assert ack["error"]["message"] == exc["message"] and "100000" in exc["message"]
        assert client.connected and client.sio.get_sid(NS) == sid, f"dropped after {size}"

    await too_large(150_000)
    first = webm[:50_000]  # a recording's first chunk must open a WebM or MP4 stream
    ok = await client.call("chunk", {"recordId": "big", "chunk": first})
    assert ok == {"recordId": "big", "index": 0}
    exact = await client.call("chunk", {"recordId": "big", "chunk": b"\2" * 100_000})
    assert exact == {"recordId": "big", "index": 1}
    await too_large(100_001)
    # Over engine.io's default 1,000,000-byte message limit, under the server's transport limit:
    # still a clear error, not a dropped connection.
    await too_large(4_000_000)

    assert not client.disconnected.is_set()
    assert await client.call("start", {"recordId": "big"}) == {"recordId": "big", "nextIndex": 2}
    folder = server.storage / "big"
    assert sorted(p.name for p in folder.iterdir()) == ["chunk-0.webm", "chunk-1.webm"]
    assert (folder / "chunk-0.webm").read_bytes() == first
    assert (folder / "chunk-1.webm").stat().st_size == 100_000
    assert client.events["exception"].empty()
