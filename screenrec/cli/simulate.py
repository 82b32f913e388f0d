"""`screenrec simulate`: load a server with simulated MediaRecorder clients, report what it took."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from screenrec.cli.app import app
from screenrec.cli.options import AsJson, command, print_json
from screenrec.cli.report import FAILED, err, out, say
from screenrec.config import ACCESS, MEDIA, Settings, parse_duration, parse_size
from screenrec.errors import ConfigError, ScreenrecError


def _options(fields: dict[str, Any], settings: Settings) -> Any:
    """SimulateOptions from the command line; ConfigError (exit 2) for values no run can use."""
    from screenrec.simulate import SimulateError, SimulateOptions

    if settings.tokens:
        fields["token"] = settings.tokens[0]
    try:
        for name, parse in (("duration", parse_duration), ("interval", parse_duration),
                            ("timeout", parse_duration), ("bitrate", parse_size)):  # fmt: skip
            fields[name] = parse(fields[name])
        if fields["chunk_bytes"] is not None:
            fields["chunk_bytes"] = parse_size(fields["chunk_bytes"])
        options = SimulateOptions(**fields, ffmpeg=settings.ffmpeg)
        options.check()
    except ConfigError as exc:
        raise ConfigError(f"--{name.replace('_', '-')}: {exc.message}") from None
    except SimulateError as exc:
        raise ConfigError(str(exc)) from None
    return options


def _run(options: Any) -> Any:
    from screenrec.simulate import SimulateError, run_sync

    try:
        if err.is_terminal:
            with err.status("starting") as live:
                return run_sync(options, lambda line: live.update(Text(line)))
        return run_sync(options)
    except SimulateError as exc:  # nothing listens at --url, no media: the run failed
        raise ScreenrecError(str(exc)) from None


@command(app, MEDIA, ACCESS)
def simulate(
    settings: Settings,
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
    codec: Annotated[str, typer.Option("--codec", help="vp8, vp9 or h264.")] = "vp8",
    container: Annotated[
        str, typer.Option("--container", help="webm, or mp4 (fragmented, as Safari records).")
    ] = "webm",
    media: Annotated[
        Path | None,
        typer.Option("--media", help="Stream this WebM or MP4 instead of generating one."),
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
    as_json: AsJson = False,
) -> None:
    """Load a server with simulated recorders.

    Simulated MediaRecorder clients, and a report of what it took. Each client connects over
    websocket, starts a recording, streams a WebM or MP4 (made once by ffmpeg, cached) cut at
    arbitrary offsets, and stops. Exits 1 on any error, lost chunk, failed recording or failed
    --verify, so `serve & simulate --verify` is a smoke test."""
    fields = {
        name: value for name, value in locals().items() if name not in ("settings", "as_json")
    }
    report = _run(_options(fields, settings))
    if as_json:
        print_json(report.to_dict())
    else:
        table = Table("simulate")
        table.add_column(Text(url))
        for label, value in report.rows():
            table.add_row(Text(label), Text(str(value)))
        out.print(table)
        for failure in report.failures:
            say("failed", failure, "red", to_err=False)
    if not report.ok:
        raise typer.Exit(FAILED)
