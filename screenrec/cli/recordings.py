"""`list`, `status`, `finalize` and `purge`: the commands that read or change recordings, each
one service call rendered for people (rich) or scripts (--json)."""

from __future__ import annotations

import sys
from typing import Annotated, Any
from urllib.parse import urljoin

import typer
from rich.markup import escape
from rich.progress import Progress

from screenrec.cli import remote, render
from screenrec.cli.app import app
from screenrec.cli.options import (
    AsJson,
    command,
    other_store_hint,
    print_json,
    run_service,
)
from screenrec.cli.report import FAILED, err, exit_code, out, say, with_hint
from screenrec.config import ACCESS, DATA, FINALIZE, MEDIA, Settings, parse_duration
from screenrec.errors import ConfigError, LiveRecording, NotFound, ScreenrecError
from screenrec.links import Links
from screenrec.models import RecordingState
from screenrec.service import RecordingService
from screenrec.wire import status_document

States = Annotated[
    list[RecordingState] | None,
    typer.Option("--status", help="Only recordings in this state (repeat for several)."),
]
OlderThan = Annotated[
    str | None, typer.Option("--older-than", help="Only recordings created longer ago (7d, 12h).")
]


def _links(settings: Settings) -> Links:
    """Download links as the server would sign them, when tokens are configured."""
    return Links(settings.tokens, settings.link_ttl)


def _age(older_than: str | None) -> float | None:
    try:
        return None if older_than is None else parse_duration(older_than)
    except ConfigError as exc:
        raise ConfigError(f"--older-than: {exc.message}") from None


@command(app, DATA, name="list")
def list_(
    settings: Settings,
    status: States = None,
    older_than: OlderThan = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 100,
    wide: Annotated[bool, typer.Option("--wide", help="Every column, however narrow.")] = False,
    ids_only: Annotated[bool, typer.Option("--ids-only", help="Only ids, one a line.")] = False,
    as_json: AsJson = False,
) -> None:
    """List recordings, newest first.

    Ids are never cut: on a narrow terminal other columns make room (--wide keeps them all)."""
    age = _age(older_than)
    recs = run_service(
        settings, lambda s: s.list(limit=limit, states=tuple(status or ()), older_than=age)
    )
    docs = [status_document(r, _links(settings)) for r in recs]
    if as_json:
        print_json(docs)
    elif ids_only:
        for doc in docs:
            print(doc["recordId"])
    elif not docs:
        say("", "no recordings", to_err=False)
        say("hint", other_store_hint(settings), "yellow")
    else:
        render.print_recordings(docs, out, wide=wide)


async def _inspect(service: RecordingService, record_id: str, links: Links) -> dict[str, Any]:
    found = await service.inspect(record_id)
    doc = status_document(found.recording, links)
    doc["chunkIndices"] = found.chunk_indices
    if found.problems:
        doc["problems"] = found.problems
    if found.media is not None:
        doc["videoCodec"], doc["audioCodec"] = found.media.video_codec, found.media.audio_codec
    return doc


def _server_status(server: str, record_id: str | None, token: str | None, as_json: bool) -> None:
    url = remote.server_url(server)
    if record_id is not None:
        doc = remote.recording(url, record_id, token)
        if as_json:
            print_json(doc)
        else:  # the server's links are relative to it
            link = doc.get("downloadUrl")
            shown = {**doc, "downloadUrl": urljoin(url + "/", link)} if link else doc
            out.print(render.recording_view(shown))
        return
    doc = remote.health(url, token)
    print_json(doc) if as_json else out.print(render.health_view(doc))
    if doc.get("status") != "ok":
        raise typer.Exit(FAILED)


@command(app, DATA, MEDIA, ACCESS)
def status(
    settings: Settings,
    record_id: Annotated[str | None, typer.Argument(help="The recordId.")] = None,
    server: Annotated[
        str | None,
        typer.Option("--server", help="Ask a running server (its URL): its health, or the id's."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Show one recording, or ask a running server.

    For one recording: chunks on storage and gaps, sizes, duration, codecs, warnings, download
    URL. With --server URL: the server's health, or (with an id) the server's view of it."""
    if server:
        _server_status(server, record_id, settings.tokens[0] if settings.tokens else None, as_json)
        return
    if record_id is None:
        raise with_hint(
            ConfigError("give a recordId, or --server URL"), "see `screenrec status --help`"
        )
    try:
        doc = run_service(settings, lambda s: _inspect(s, record_id, _links(settings)))
    except NotFound as exc:
        raise with_hint(exc, other_store_hint(settings)) from None
    print_json(doc) if as_json else out.print(render.recording_view(doc))


async def _finalize_each(
    service: RecordingService, ids: list[str], stale_idle: float | None, quiet: bool
) -> list[tuple[str, dict[str, Any] | ScreenrecError]]:
    if stale_idle is not None:
        ids += [r.record_id for r in await service.stale(stale_idle) if r.record_id not in ids]
    results: list[tuple[str, dict[str, Any] | ScreenrecError]] = []
    with Progress(console=err, transient=True, disable=quiet or not err.is_terminal) as progress:
        task = progress.add_task("finalizing", total=len(ids))
        for record_id in ids:
            progress.update(task, description=f"finalizing {escape(record_id)}")
            try:
                rec = await service.finalize(record_id)
                if service.derivatives_for(rec):
                    progress.update(task, description=f"making copies of {escape(record_id)}")
                    rec = await service.derive_now(rec)
                results.append((record_id, status_document(rec, _links(service.settings))))
            except ScreenrecError as exc:
                results.append((record_id, exc))
            progress.advance(task)
    return results


def _show_finalized(record_id: str, result: dict[str, Any] | ScreenrecError) -> None:
    if isinstance(result, ScreenrecError):
        say("error", f"{record_id}: {result.message}", "bold red")
        return
    line = render.state(result["status"])
    size, length = render.size(result.get("finalBytes")), render.duration(result.get("durationMs"))
    line.append(f" {record_id} {size}, {length}, {result.get('downloadUrl', '')}")
    out.print(line)
    for warning in result.get("warnings", []):
        say("  warning", str(warning), "yellow", to_err=False)
    for kind, found in result.get("derivatives", {}).items():
        detail = found.get("url") or found.get("error") or ""
        say(f"  {kind} copy", f"{found['status']} {detail}".strip(), "cyan", to_err=False)


@command(app, DATA, FINALIZE, MEDIA)
def finalize(
    settings: Settings,
    record_ids: Annotated[list[str] | None, typer.Argument(help="recordIds to finalize.")] = None,
    stale: Annotated[
        bool, typer.Option("--stale", help="Finalize every recording idle for --idle.")
    ] = False,
    idle: Annotated[
        str | None, typer.Option("--idle", help="With --stale: idle this long (default 15m).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Finalize recordings left without `stop`.

    The same work as `stop`. Safe while the server runs: a recording is never finalized
    twice at once. Exits with the code of the first recording that failed (3 unknown id,
    2 invalid id, 1 failed)."""
    if not record_ids and not stale:
        raise with_hint(
            ConfigError("give recordIds, or --stale"), "see `screenrec finalize --help`"
        )
    idle_for = None if not stale else settings.stale_after if idle is None else _age(idle)
    results = run_service(
        settings, lambda s: _finalize_each(s, list(record_ids or []), idle_for, as_json)
    )
    if as_json:
        failed = {"status": "failed"}
        print_json(
            [
                r if isinstance(r, dict) else {"recordId": rid, **failed, **r.to_dict()}
                for rid, r in results
            ]
        )
    elif not results:
        say("", "nothing to finalize", to_err=False)
    for record_id, result in [] if as_json else results:
        _show_finalized(record_id, result)
    failures = [r for _, r in results if isinstance(r, ScreenrecError)]
    if failures:
        raise typer.Exit(exit_code(failures[0]))


def _purge_error(skipped: list[tuple[str, str]], settings: Settings) -> ScreenrecError:
    """The error for named recordings a purge left: NotFound first, else LiveRecording."""
    missing = [rid for rid, why in skipped if why == "not found"]
    if missing:
        return with_hint(NotFound(f"no recording {', '.join(missing)}"), other_store_hint(settings))
    live = ", ".join(f"{rid} ({why})" for rid, why in skipped)
    return LiveRecording(f"not deleted, still live: {live}")


def _confirm(count: int, nbytes: int) -> None:
    if not sys.stdin.isatty():
        raise with_hint(
            ConfigError("refusing to delete without a terminal to confirm"), "add --yes"
        )
    if not typer.confirm(f"Delete {count} recording(s), {render.size(nbytes)}?"):
        say("", "nothing deleted", to_err=False)
        raise typer.Exit(FAILED)


async def _delete(
    service: RecordingService, chosen: list[Any], force: bool
) -> tuple[list[dict[str, Any]], list[ScreenrecError]]:
    done, failures = [], []
    for rec, _ in chosen:
        try:
            freed = await service.purge(rec.record_id, force=force)
        except ScreenrecError as exc:  # it went live, or went away, since the plan
            failures.append(exc)
            continue
        done.append({"recordId": rec.record_id, "status": str(rec.state), "bytes": freed})
    return done, failures


@command(app, DATA)
def purge(
    settings: Settings,
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
    as_json: AsJson = False,
) -> None:
    """Delete recordings: files and state.

    By id, or by --older-than and/or --status. Lists what it deletes, with sizes, and what it
    skips and why, before asking. Named ids it cannot delete make it exit 3 (unknown) or 1
    (still live), after deleting the others."""
    if not record_ids and not status and older_than is None:
        raise ConfigError("give recordIds, --older-than or --status (or both)")
    age = _age(older_than)
    plan = run_service(
        settings,
        lambda s: s.purge_plan(record_ids, states=tuple(status or ()), older_than=age, force=force),
    )
    named_skips = plan.skipped if record_ids else []
    if not plan.chosen and named_skips and not as_json:
        raise _purge_error(named_skips, settings)
    chosen = [(r.record_id, str(r.state), size) for r, size in plan.chosen]
    if not as_json:
        _show_plan(chosen, plan.skipped, force)
        if not chosen:
            return
    if not dry_run and plan.chosen and not yes:
        _confirm(len(plan.chosen), plan.bytes)
    if dry_run:
        removed = [{"recordId": i, "status": s, "bytes": b} for i, s, b in chosen]
        failures: list[ScreenrecError] = []
    else:
        removed, failures = run_service(settings, lambda s: _delete(s, plan.chosen, force))
    _show_purged(removed, plan.skipped, dry_run, as_json)
    for failure in failures:
        say("failed", failure.message, "red")
    if named_skips:
        raise _purge_error(named_skips, settings)
    if failures:
        raise typer.Exit(exit_code(failures[0]))


def _show_plan(
    chosen: list[tuple[str, str, int]], skipped: list[tuple[str, str]], force: bool
) -> None:
    if chosen or skipped:
        out.print(render.purge_table(chosen, skipped))
    if not chosen:
        say("", "nothing to delete", to_err=False)
    if not force and any(why.startswith("still") for _, why in skipped):
        say("hint", "--force also deletes recordings that are still live", "yellow")


def _show_purged(
    removed: list[dict[str, Any]], skipped: list[tuple[str, str]], dry_run: bool, as_json: bool
) -> None:
    total = sum(d["bytes"] for d in removed)
    if as_json:
        skips = [{"recordId": rid, "reason": why} for rid, why in skipped]
        print_json(
            {"dryRun": dry_run, "recordings": removed, "bytesFreed": total, "skipped": skips}
        )
        return
    verb = "would delete" if dry_run else "deleted"
    say("", f"{verb} {len(removed)} recording(s), {render.size(total)}", to_err=False)
