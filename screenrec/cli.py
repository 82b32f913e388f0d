"""The `screenrec` command: parse options -> Settings -> one service call -> render (rich or JSON).

Exit codes: 0 ok, 1 operation failed, 2 usage or configuration error, 3 not found.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from screenrec import __version__
from screenrec.config import Settings, env_name, parse_duration
from screenrec.errors import ConfigError, NotFound, ScreenrecError
from screenrec.links import Links
from screenrec.logs import setup_logging
from screenrec.models import Recording, RecordingState, ranges
from screenrec.wire import status_document

T = TypeVar("T")

app = typer.Typer(
    name="screenrec",
    help="Self-hosted screen-recording server: Socket.IO ingest, one seekable final.webm.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
out = Console()
err = Console(stderr=True)


def _opt(name: str, flag: str, help: str, **kwargs: Any) -> Any:
    return typer.Option(flag, envvar=env_name(name), help=help, show_default=False, **kwargs)


# Options shared by every command that touches recordings (the same ones as `serve`).
DataDir = Annotated[Path | None, _opt("data_dir", "--data-dir", "State and recordings directory.")]
RedisUrl = Annotated[str | None, _opt("redis_url", "--redis-url", "Redis state store URL.")]
StorageOpt = Annotated[
    str | None, _opt("storage", "--storage", "Media storage: a directory or s3://bucket/prefix.")
]
S3EndpointUrl = Annotated[
    str | None, _opt("s3_endpoint_url", "--s3-endpoint-url", "S3-compatible endpoint (AWS).")
]
S3Region = Annotated[str | None, _opt("s3_region", "--s3-region", "S3 region (AWS config).")]
S3Presign = Annotated[
    bool | None,
    _opt("s3_presign", "--s3-presign/--no-s3-presign", "Redirect downloads to presigned URLs."),
]
Ffmpeg = Annotated[str | None, _opt("ffmpeg", "--ffmpeg", "ffmpeg binary to run.")]
KeepChunks = Annotated[
    bool | None,
    _opt("keep_chunks", "--keep-chunks/--no-keep-chunks", "Keep chunk files after finalize."),
]
FinalizeTimeout = Annotated[
    str | None, _opt("finalize_timeout", "--finalize-timeout", "Limit for one ffmpeg run (600s).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
States = Annotated[
    list[RecordingState] | None,
    typer.Option("--status", help="Only recordings in this state (repeat for several)."),
]
OlderThan = Annotated[
    str | None, typer.Option("--older-than", help="Only recordings created longer ago (7d, 12h).")
]


def _settings(**options: Any) -> Settings:
    try:
        return Settings.load(options)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(2) from None


def _links(settings: Settings) -> Links:
    """Signed download links in CLI output too, when tokens are configured."""
    return Links(settings.tokens, settings.link_ttl)


def _seconds(text: str | None) -> float | None:
    try:
        return None if text is None else parse_duration(text)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(2) from None


def _exit_code(exc: ScreenrecError) -> int:
    return 3 if isinstance(exc, NotFound) else 2 if isinstance(exc, ConfigError) else 1


def _run_service(settings: Settings, call: Callable[[Any], Awaitable[T]]) -> T:
    """Open the service, run one call, close it; errors become messages and exit codes."""
    from screenrec.service import RecordingService

    async def go() -> T:
        service = RecordingService.open(settings)
        try:
            return await call(service)
        finally:
            await service.close()

    try:
        return asyncio.run(go())
    except ScreenrecError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(_exit_code(exc)) from None


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _version(value: bool) -> None:
    if value:
        out.print(f"screenrec {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Self-hosted screen-recording server: Socket.IO ingest, one seekable final.webm."""


@app.command()
def serve(
    host: Annotated[str | None, _opt("host", "--host", "Interface to listen on (0.0.0.0).")] = None,
    port: Annotated[
        int | None, _opt("port", "--port", "Port for Socket.IO and REST (8000; 0 = any free).")
    ] = None,
    data_dir: DataDir = None,
    redis_url: RedisUrl = None,
    storage: StorageOpt = None,
    s3_endpoint_url: S3EndpointUrl = None,
    s3_region: S3Region = None,
    s3_presign: S3Presign = None,
    cors_origin: Annotated[
        list[str] | None,
        _opt("cors_origins", "--cors-origin", "Allowed origin (repeat; default all)."),
    ] = None,
    web: Annotated[
        bool | None, _opt("web", "--web/--no-web", "Serve the recorder page at / (on).")
    ] = None,
    max_chunk_bytes: Annotated[
        str | None, _opt("max_chunk_bytes", "--max-chunk-bytes", "Largest chunk (32MiB).")
    ] = None,
    max_connections: Annotated[
        int | None, _opt("max_connections", "--max-connections", "Connections at once (1000).")
    ] = None,
    max_recordings_per_connection: Annotated[
        int | None,
        _opt(
            "max_recordings_per_connection",
            "--max-recordings-per-connection",
            "Recordings one connection may feed (16).",
        ),
    ] = None,
    max_recording_bytes: Annotated[
        str | None,
        _opt("max_recording_bytes", "--max-recording-bytes", "Largest recording (16GiB)."),
    ] = None,
    ffmpeg: Ffmpeg = None,
    keep_chunks: KeepChunks = None,
    finalize_timeout: FinalizeTimeout = None,
    stale_after: Annotated[
        str | None,
        _opt("stale_after", "--stale-after", "Finalize recordings idle this long (15m; 0 = off)."),
    ] = None,
    retention: Annotated[
        str | None,
        _opt("retention", "--retention", "Purge finished recordings older than this (off)."),
    ] = None,
    webhook_url: Annotated[
        list[str] | None,
        _opt("webhook_urls", "--webhook-url", "POST ready/failed events here (repeat)."),
    ] = None,
    webhook_secret: Annotated[
        str | None, _opt("webhook_secret", "--webhook-secret", "HMAC key for webhook signatures.")
    ] = None,
    token: Annotated[
        list[str] | None,
        _opt("tokens", "--token", "Require this access token (repeat to rotate)."),
    ] = None,
    link_ttl: Annotated[
        str | None, _opt("link_ttl", "--link-ttl", "Signed download links expire after (24h).")
    ] = None,
    log_level: Annotated[
        str | None, _opt("log_level", "--log-level", "debug, info, warning or error.")
    ] = None,
    log_format: Annotated[
        str | None, _opt("log_format", "--log-format", "text (default) or json.")
    ] = None,
) -> None:
    """Run the recording server (Socket.IO /recording + REST) until SIGINT or SIGTERM."""
    settings = _settings(
        host=host,
        port=port,
        data_dir=data_dir,
        redis_url=redis_url,
        storage=storage,
        s3_endpoint_url=s3_endpoint_url,
        s3_region=s3_region,
        s3_presign=s3_presign,
        cors_origins=",".join(cors_origin) if cors_origin else None,
        web=web,
        max_chunk_bytes=max_chunk_bytes,
        max_connections=max_connections,
        max_recordings_per_connection=max_recordings_per_connection,
        max_recording_bytes=max_recording_bytes,
        ffmpeg=ffmpeg,
        keep_chunks=keep_chunks,
        finalize_timeout=finalize_timeout,
        stale_after=stale_after,
        retention=retention,
        webhook_urls=",".join(webhook_url) if webhook_url else None,
        webhook_secret=webhook_secret,
        tokens=",".join(token) if token else None,
        link_ttl=link_ttl,
        log_level=log_level,
        log_format=log_format,
    )
    setup_logging(settings.log_level, settings.log_format)
    from screenrec.server import run

    def announce(url: str) -> None:
        print(f"screenrec listening on {url}", flush=True)
        log = logging.getLogger("screenrec")
        if settings.tokens:
            log.info(
                "access control on: %d token(s); downloads use signed links", len(settings.tokens)
            )
        else:
            log.warning(
                "open to everyone (no --token): anyone who can reach %s can record, list, "
                "download and delete%s",
                url,
                ""
                if settings.host in ("127.0.0.1", "::1", "localhost")
                else " (use --host 127.0.0.1 to keep it on this machine)",
            )

    try:
        asyncio.run(run(settings, announce))
    except ScreenrecError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(2 if isinstance(exc, ConfigError) else 1) from None
    except OSError as exc:
        err.print(f"[red]error:[/] cannot listen on {settings.host}:{settings.port}: {exc}")
        raise typer.Exit(1) from None


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


def _duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = ms / 1000
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def _when(iso_time: object) -> str:
    """`2026-11-26T01:32:18.354Z` -> `2026-11-26 01:32:18` (UTC) for tables."""
    return str(iso_time)[:19].replace("T", " ")


def _styled(state: RecordingState | str) -> str:
    color = {"ready": "green", "failed": "red", "processing": "yellow"}.get(str(state), "cyan")
    return f"[{color}]{state}[/]"


@app.command("list")
def list_(
    status: States = None,
    older_than: OlderThan = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 100,
    data_dir: DataDir = None,
    redis_url: RedisUrl = None,
    storage: StorageOpt = None,
    s3_endpoint_url: S3EndpointUrl = None,
    s3_region: S3Region = None,
    s3_presign: S3Presign = None,
    as_json: AsJson = False,
) -> None:
    """List recordings, newest first."""
    settings = _settings(
        data_dir=data_dir, redis_url=redis_url, storage=storage, s3_endpoint_url=s3_endpoint_url,
        s3_region=s3_region, s3_presign=s3_presign,
    )  # fmt: skip
    age = _seconds(older_than)
    recs: list[Recording] = _run_service(
        settings, lambda s: s.list(limit=limit, states=tuple(status or ()), older_than=age)
    )
    if as_json:
        _print_json([status_document(r, _links(settings)) for r in recs])
        return
    table = Table("id", "status", "chunks", "size", "duration", "created", "last activity")
    for r in recs:
        doc = status_document(r, _links(settings))
        table.add_row(
            r.record_id, _styled(r.state), str(r.chunks), _size(r.final_bytes or r.bytes),
            _duration(r.duration_ms), _when(doc["createdAt"]), _when(doc["updatedAt"]),
        )  # fmt: skip
    out.print(table if recs else "no recordings")


def _server_status(url: str, as_json: bool) -> None:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/healthz", timeout=10) as resp:
            doc = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        err.print(f"[red]error:[/] {url} did not answer /healthz: {exc}")
        raise typer.Exit(1) from None
    if as_json:
        _print_json(doc)
        return
    table = Table(show_header=False, box=None)
    for key in ("status", "version", "store", "storage"):
        table.add_row(key, str(doc.get(key)))
    table.add_row("capabilities", ", ".join(doc.get("capabilities", [])))
    for key, value in doc.get("config", {}).items():
        table.add_row(key, str(value))
    out.print(table)


@app.command()
def status(
    record_id: Annotated[str | None, typer.Argument(help="The recordId.")] = None,
    server: Annotated[
        str | None, typer.Option("--server", help="Ask a running server (its URL) instead.")
    ] = None,
    data_dir: DataDir = None,
    redis_url: RedisUrl = None,
    storage: StorageOpt = None,
    s3_endpoint_url: S3EndpointUrl = None,
    s3_region: S3Region = None,
    s3_presign: S3Presign = None,
    as_json: AsJson = False,
) -> None:
    """Show everything known about one recording, or (--server URL) about a running server."""
    if server:
        _server_status(server, as_json)
        return
    if record_id is None:
        err.print("[red]error:[/] give a recordId, or --server URL")
        raise typer.Exit(2)
    settings = _settings(
        data_dir=data_dir, redis_url=redis_url, storage=storage, s3_endpoint_url=s3_endpoint_url,
        s3_region=s3_region, s3_presign=s3_presign,
    )  # fmt: skip
    found = _run_service(settings, lambda s: s.inspect(record_id))
    doc = status_document(found.recording, _links(settings))
    doc["chunkIndices"] = found.chunk_indices
    if found.problems:
        doc["problems"] = found.problems
    if found.media is not None:
        doc["videoCodec"], doc["audioCodec"] = found.media.video_codec, found.media.audio_codec
    if as_json:
        _print_json(doc)
        return
    table = Table(show_header=False, box=None)
    for key, value in doc.items():
        if key == "chunkIndices":
            value = ranges(value) if value else "none on storage"
        elif key == "status":
            value = _styled(value)
        elif isinstance(value, list):
            value = "\n".join(map(str, value))
        table.add_row(key, str(value))
    out.print(table)


@app.command()
def finalize(
    record_ids: Annotated[list[str] | None, typer.Argument(help="recordIds to finalize.")] = None,
    stale: Annotated[
        bool, typer.Option("--stale", help="Finalize every recording idle for --idle.")
    ] = False,
    idle: Annotated[
        str | None, typer.Option("--idle", help="With --stale: idle this long (default 15m).")
    ] = None,
    data_dir: DataDir = None,
    redis_url: RedisUrl = None,
    storage: StorageOpt = None,
    s3_endpoint_url: S3EndpointUrl = None,
    s3_region: S3Region = None,
    s3_presign: S3Presign = None,
    ffmpeg: Ffmpeg = None,
    keep_chunks: KeepChunks = None,
    finalize_timeout: FinalizeTimeout = None,
    as_json: AsJson = False,
) -> None:
    """Finalize recordings whose client never sent `stop` (the same work as `stop`).

    Safe while the server runs: a recording is never finalized twice at once."""
    if not record_ids and not stale:
        err.print("[red]error:[/] give recordIds, or --stale")
        raise typer.Exit(2)
    settings = _settings(
        data_dir=data_dir, redis_url=redis_url, storage=storage, s3_endpoint_url=s3_endpoint_url,
        s3_region=s3_region, s3_presign=s3_presign, ffmpeg=ffmpeg, keep_chunks=keep_chunks,
        finalize_timeout=finalize_timeout,
    )  # fmt: skip
    idle_for = _seconds(idle) if idle is not None else settings.stale_after

    async def each(service: Any) -> list[dict[str, Any]]:
        ids = list(record_ids or [])
        if stale:
            ids += [r.record_id for r in await service.stale(idle_for) if r.record_id not in ids]
        results = []
        with Progress(console=err, transient=True, disable=as_json) as progress:
            task = progress.add_task("finalizing", total=len(ids))
            for record_id in ids:
                progress.update(task, description=f"finalizing {record_id}")
                try:
                    results.append(
                        status_document(await service.finalize(record_id), _links(settings))
                    )
                except ScreenrecError as exc:
                    results.append({"recordId": record_id, "status": "failed", **exc.to_dict()})
                progress.advance(task)
        return results

    results = _run_service(settings, each)
    if as_json:
        _print_json(results)
    elif not results:
        out.print("nothing to finalize")
    for doc in [] if as_json else results:
        detail = doc.get("message") or doc.get("downloadUrl", "")
        warnings = "".join(f"\n  warning: {w}" for w in doc.get("warnings", []))
        out.print(f"{_styled(doc['status'])} {doc['recordId']} {detail}{warnings}")
    if any(doc["status"] != "ready" for doc in results):
        raise typer.Exit(1)


@app.command()
def purge(
    record_ids: Annotated[list[str] | None, typer.Argument(help="recordIds to delete.")] = None,
    status: States = None,
    older_than: OlderThan = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would go; delete nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Also delete recordings still receiving chunks.")
    ] = False,
    data_dir: DataDir = None,
    redis_url: RedisUrl = None,
    storage: StorageOpt = None,
    s3_endpoint_url: S3EndpointUrl = None,
    s3_region: S3Region = None,
    s3_presign: S3Presign = None,
    as_json: AsJson = False,
) -> None:
    """Delete recordings (files and state) by id, or by --older-than and/or --status."""
    if not record_ids and not status and older_than is None:
        err.print("[red]error:[/] give recordIds, --older-than or --status (or both)")
        raise typer.Exit(2)
    settings = _settings(
        data_dir=data_dir, redis_url=redis_url, storage=storage, s3_endpoint_url=s3_endpoint_url,
        s3_region=s3_region, s3_presign=s3_presign,
    )  # fmt: skip
    age = _seconds(older_than)

    plan = _run_service(
        settings,
        lambda s: s.purge_plan(record_ids, states=tuple(status or ()), older_than=age, force=force),
    )
    if record_ids and plan.skipped:
        missing = [rid for rid, why in plan.skipped if why == "not found"]
        if missing:
            err.print(f"[red]error:[/] no recording {', '.join(missing)}")
            raise typer.Exit(3)
        ids = ", ".join(rid for rid, _ in plan.skipped)
        err.print(f"[red]error:[/] still receiving chunks: {ids} (use --force)")
        raise typer.Exit(1)
    chosen = plan.chosen
    if not dry_run and chosen and not yes:
        if not sys.stdin.isatty():
            err.print("[red]error:[/] refusing to delete without a terminal to confirm: use --yes")
            raise typer.Exit(2)
        if not typer.confirm(f"Delete {len(chosen)} recording(s)?"):
            raise typer.Exit(1)

    async def remove(service: Any) -> list[dict[str, Any]]:
        done = []
        for rec, size in chosen:
            freed = size if dry_run else await service.purge(rec.record_id, force=force)
            done.append({"recordId": rec.record_id, "status": str(rec.state), "bytes": freed})
        return done

    removed = _run_service(settings, remove)
    total = sum(d["bytes"] for d in removed)
    if as_json:
        _print_json({"dryRun": dry_run, "recordings": removed, "bytesFreed": total})
        return
    verb = "would delete" if dry_run else "deleted"
    for d in removed:
        out.print(f"{verb} {d['recordId']} ({d['status']}, {_size(d['bytes'])})")
    out.print(f"{verb} {len(removed)} recording(s), {_size(total)}")


@app.command()
def simulate(
    url: Annotated[
        str, typer.Option("--url", help="Server: http://HOST:PORT, or ws://HOST:PORT/recording.")
    ],
    clients: Annotated[int, typer.Option("--clients", min=1, help="Concurrent recordings.")] = 1,
    duration: Annotated[
        str, typer.Option("--duration", help="Media per recording (90s, 2m).")
    ] = "10s",
    interval: Annotated[str, typer.Option("--interval", help="Timeslice: media per chunk.")] = "1s",
    bitrate: Annotated[
        str, typer.Option("--bitrate", help="Bitrate of the generated media (2M = 2 Mbit/s).")
    ] = "2M",
    chunk_bytes: Annotated[
        str | None, typer.Option("--chunk-bytes", help="Fixed chunk size instead (256KiB).")
    ] = None,
    realtime: Annotated[
        bool, typer.Option("--realtime", help="One chunk per interval, like a live recorder.")
    ] = False,
    window: Annotated[
        int, typer.Option("--window", min=1, help="Chunks in flight without --realtime.")
    ] = 1,
    codec: Annotated[str, typer.Option("--codec", help="vp8 or vp9.")] = "vp8",
    media_file: Annotated[
        Path | None, typer.Option("--media", help="Stream this WebM instead of generating one.")
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Download each final and check it with ffmpeg.")
    ] = False,
    id_prefix: Annotated[
        str, typer.Option("--id-prefix", help="recordIds are PREFIX-PID-RANDOM-N.")
    ] = "sim",
    answers: Annotated[
        str, typer.Option("--answers", help="ack, or event for spec-only servers.")
    ] = "ack",
    timeout: Annotated[
        str, typer.Option("--timeout", help="Longest wait for any one answer.")
    ] = "60s",
    seed: Annotated[int, typer.Option("--seed", help="Seed for the cut offsets.")] = 1,
    ffmpeg: Ffmpeg = None,
    as_json: AsJson = False,
) -> None:
    """Load a server with simulated MediaRecorder clients and report what it took.

    Each client connects over websocket, starts a recording, streams a WebM (made once by ffmpeg
    and cached) cut at arbitrary offsets, and stops. Exits 1 on any error, lost chunk, failed
    recording or failed --verify, so `serve & simulate --verify` is a smoke test."""
    from rich.markup import escape

    from screenrec.config import parse_size
    from screenrec.simulate import SimulateError, SimulateOptions, run_sync

    try:
        options = SimulateOptions(
            url=url, clients=clients, duration=parse_duration(duration),
            interval=parse_duration(interval), bitrate=parse_size(bitrate),
            chunk_bytes=parse_size(chunk_bytes) if chunk_bytes else None, realtime=realtime,
            window=window, codec=codec, media=media_file, verify=verify, id_prefix=id_prefix,
            answers=answers, timeout=parse_duration(timeout), seed=seed, ffmpeg=ffmpeg,
        )  # fmt: skip
        options.check()
    except (ConfigError, SimulateError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    try:
        if err.is_terminal:
            with err.status("starting") as live:
                report = run_sync(options, live.update)
        else:
            report = run_sync(options)
    except (ScreenrecError, SimulateError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(_exit_code(exc) if isinstance(exc, ScreenrecError) else 1) from None
    if as_json:
        _print_json(report.to_dict())
    else:
        table = Table("simulate", url, show_header=True)
        for label, value in report.rows():
            table.add_row(label, value)
        out.print(table)
        for failure in report.failures:
            out.print(f"[red]failed:[/] {escape(failure)}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    app()
