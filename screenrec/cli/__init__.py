"""The `screenrec` command: parse options -> Settings -> one service call -> render (rich or
--json). `app` is the Typer app, `main` the console script; the commands register on import."""

from screenrec.cli import recordings, serve, simulate
from screenrec.cli.app import app, main

__all__ = ["app", "main", "recordings", "serve", "simulate"]
