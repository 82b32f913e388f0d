"""The Typer app and the console-script entry point; click's own usage errors go through the
same reporter as ours."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from screenrec import __version__
from screenrec.cli.report import UsageError, out, report

app = typer.Typer(
    name="screenrec",
    help="Self-hosted screen-recording server: Socket.IO ingest, one seekable final.webm.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    # Plain click help: rich's option table cuts long names and variables at 80 columns
    # (`--max-recordings-p…`); click's puts a long name on its own line instead.
    rich_markup_mode=None,
)


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


def main() -> None:
    """Console-script entry point: run the app; a bad option or argument is one `error:` line
    and exit 2, like every other usage error."""
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="screenrec", standalone_mode=False)
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # plain `screenrec`: the help, as Typer
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            exc.add_note(f"see `{ctx.command_path} --help`")
        code = report(exc)
    except typer.Abort:  # Ctrl-C or end of input at a prompt
        code = 1
    sys.exit(code if isinstance(code, int) else 0)
