"""The `screenrec` command: parse options -> Settings -> one service call -> render (rich or JSON).

Exit codes: 0 ok, 1 operation failed, 2 usage or configuration error, 3 not found.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from screenrec import __version__
from screenrec.config import Settings, env_name
from screenrec.errors import ConfigError, NotFound, ScreenrecError
from screenrec.models import Recording, RecordingState, status_document

T = TypeVar("T")

app = typer.Typer(
    name="screenrec",
    help="Self-hosted screen-recording server: Socket.IO ingest, one seekable final.webm.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
out = Console()
err = Console(stderr=True)


def _opt(name: str, flag: str, help: str, **kwargs: Any) -> Any:
    return typer.Option(flag, envvar=env_name(name), help=help, show_default=False, **kwargs)


# Options shared by every command that touches recordings (the same ones as `serve`).
DataDir = Annotated[Path | None, _opt("data_dir", "--data-dir", "State and recordings directory.")]
RedisUrl = Annotated[str | None, _opt("redis_url", "--redis-url", "Redis state store URL.")]
StorageOpt = Annotated[str | None, _opt("storage", "--storage", "Media storage directory.")]
Ffmpeg = Annotated[str | None, _opt("ffmpeg", "--ffmpeg", "ffmpeg binary to run.")]
KeepChunks = Annotated[
    bool | None,
    _opt("keep_chunks", "--keep-chunks/--no-keep-chunks", "Keep chunk files after finalize."),
]
FinalizeTimeout = Annotated[
    str | None, _opt("finalize_timeout", "--finalize-timeout", "Limit for one ffmpeg run (600s).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _settings(**options: Any) -> Settings:
    try:
        return Settings.load(options)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(2) from None


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
        code = 3 if isinstance(exc, NotFound) else 2 if isinstance(exc, ConfigError) else 1
        raise typer.Exit(code) from None


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if level.lower() != "debug":
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


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
    cors_origin: Annotated[
        list[str] | None,
        _opt("cors_origins", "--cors-origin", "Allowed origin (repeat; default all)."),
    ] = None,
    max_chunk_bytes: Annotated[
        str | None, _opt("max_chunk_bytes", "--max-chunk-bytes", "Largest chunk (32MiB).")
    ] = None,
    ffmpeg: Ffmpeg = None,
    keep_chunks: KeepChunks = None,
    finalize_timeout: FinalizeTimeout = None,
    log_level: Annotated[
        str | None, _opt("log_level", "--log-level", "debug, info, warning or error.")
    ] = None,
) -> None:
    """Run the recording server (Socket.IO /recording + REST) until SIGINT or SIGTERM."""
    settings = _settings(
        host=host,
        port=port,
        data_dir=data_dir,
        redis_url=redis_url,
        storage=storage,
        cors_origins=",".join(cors_origin) if cors_origin else None,
        max_chunk_bytes=max_chunk_bytes,
        ffmpeg=ffmpeg,
        keep_chunks=keep_chunks,
        finalize_timeout=finalize_timeout,
        log_level=log_level,
    )
    _setup_logging(settings.log_level)
    from screenrec.server import run

    def announce(url: str) -> None:
        print(f"screenrec listening on {url}", flush=True)
        if settings.host not in ("127.0.0.1", "::1", "localhost"):
            logging.getLogger("screenrec").warning(
                "open to everyone: anyone who can reach %s can record and download "
                "(use --host 127.0.0.1 to keep it on this machine)",
                url,
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
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = ms / 1000
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def _state_style(state: RecordingState) -> str:
    return {"ready": "green", "failed": "red", "processing": "yellow"}.get(state, "cyan")


@app.command("list")
def list_(
    data_dir: DataDir = None,
    redis_url: RedisUrl = None,
    storage: StorageOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 100,
    as_json: AsJson = False,
) -> None:
    """List recordings, newest first."""
    settings = _settings(data_dir=data_dir, redis_url=redis_url, storage=storage)
    recs: list[Recording] = _run_service(settings, lambda s: s.list(limit=limit))
    if as_json:
        out.print_json(json.dumps([status_document(r) for r in recs]))
        return
    table = Table("id", "status", "chunks", "size", "duration", "created", "last activity")
    for r in recs:
        doc = status_document(r)
        table.add_row(
            r.record_id,
            f"[{_state_style(r.state)}]{r.state}[/]",
            str(r.chunks),
            _size(r.final_bytes or r.bytes),
            _duration(r.duration_ms),
            str(doc["createdAt"]),
            str(doc["updatedAt"]),
        )
    out.print(table if recs else "no recordings")


@app.command()
def status(
    record_id: Annotated[str, typer.Argument(help="The recordId.")],
    data_dir: DataDir = None,
    redis_url: RedisUrl = None,
    storage: StorageOpt = None,
    as_json: AsJson = False,
) -> None:
    """Show everything known about one recording."""
    settings = _settings(data_dir=data_dir, redis_url=redis_url, storage=storage)
    rec: Recording = _run_service(settings, lambda s: s.status(record_id))
    doc = status_document(rec)
    if as_json:
        out.print_json(json.dumps(doc))
        return
    table = Table(show_header=False, box=None)
    for key, value in doc.items():
        table.add_row(key, "\n".join(value) if isinstance(value, list) else str(value))
    out.print(table)


@app.command()
def finalize(
    record_ids: Annotated[list[str], typer.Argument(help="recordIds to finalize.")],
    data_dir: DataDir = None,
    redis_url: RedisUrl = None,
    storage: StorageOpt = None,
    ffmpeg: Ffmpeg = None,
    keep_chunks: KeepChunks = None,
    finalize_timeout: FinalizeTimeout = None,
    as_json: AsJson = False,
) -> None:
    """Finalize recordings whose client never sent `stop` (same work as `stop`)."""
    settings = _settings(
        data_dir=data_dir,
        redis_url=redis_url,
        storage=storage,
        ffmpeg=ffmpeg,
        keep_chunks=keep_chunks,
        finalize_timeout=finalize_timeout,
    )

    async def each(service: Any) -> list[dict[str, Any]]:
        results = []
        for record_id in record_ids:
            try:
                results.append(status_document(await service.finalize(record_id)))
            except ScreenrecError as exc:
                results.append({"recordId": record_id, "status": "failed", **exc.to_dict()})
        return results

    results = _run_service(settings, each)
    if as_json:
        out.print_json(json.dumps(results))
    else:
        for doc in results:
            style = "green" if doc["status"] == "ready" else "red"
            detail = doc.get("message") or doc.get("downloadUrl", "")
            out.print(f"[{style}]{doc['status']}[/] {doc['recordId']} {detail}")
    if any(doc["status"] != "ready" for doc in results):
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    app()
