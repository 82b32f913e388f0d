"""The CLI's one voice for errors: one `error: ...` line (plus `hint: ...` lines) on stderr,
never rich markup, and the one table that maps errors to exit codes."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer
from rich.console import Console
from rich.text import Text

from screenrec.config import env_name
from screenrec.errors import (
    ConfigError,
    InvalidKey,
    InvalidPayload,
    InvalidRecordId,
    LiveRecording,
    NotFound,
    ScreenrecError,
    Unauthorized,
)

E = TypeVar("E", bound=BaseException)
OK, FAILED, USAGE, NOT_FOUND = 0, 1, 2, 3
# click's UsageError (a bad option or argument), wherever this Typer takes click from.
UsageError: type[Exception] = next(
    kind for kind in typer.BadParameter.__mro__ if kind.__name__ == "UsageError"
)

# First match wins, so subclasses come before their bases. README.md documents the codes.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (NotFound, NOT_FOUND),  # and NotStarted
    (ConfigError, USAGE),
    (InvalidRecordId, USAGE),
    (InvalidPayload, USAGE),
    (InvalidKey, USAGE),
    (UsageError, USAGE),
    (ScreenrecError, FAILED),
    (OSError, FAILED),
)
HINTS: dict[type[BaseException], str] = {
    LiveRecording: "add --force to delete it anyway",
    Unauthorized: f"pass --token or set {env_name('tokens')}",
}

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def exit_code(exc: BaseException) -> int:
    """The exit code for an error, from EXIT_CODES."""
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), FAILED)


def message_of(exc: BaseException) -> str:
    """What went wrong, in the error's own words."""
    if isinstance(exc, ScreenrecError):
        return exc.message
    if isinstance(exc, UsageError):
        return exc.format_message()  # type: ignore[attr-defined]
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc)


def with_hint(exc: E, hint: str) -> E:
    """Attach a `hint:` line to an error (as an exception note) and return it."""
    exc.add_note(hint)
    return exc


def say(label: str, text: str, style: str = "", *, to_err: bool = True) -> None:
    """One line `label: text`; the text is printed as given, never read as markup."""
    line = Text.assemble((f"{label}:", style), " ", text) if label else Text(text, style=style)
    (err if to_err else out).print(line)


def report(exc: BaseException) -> int:
    """Print the error (one line, plus its hints) and return its exit code."""
    say("error", message_of(exc), "bold red")
    hints = [*getattr(exc, "__notes__", ()), *(h for k, h in HINTS.items() if isinstance(exc, k))]
    for hint in dict.fromkeys(hints):
        say("hint", hint, "yellow")
    return exit_code(exc)


@contextmanager
def reporting() -> Iterator[None]:
    """Turn every expected error inside into its report and exit code (typer.Exit)."""
    try:
        yield
    except (ScreenrecError, UsageError) as exc:
        raise typer.Exit(report(exc)) from None
    except OSError as exc:
        if exc.errno == errno.EPIPE:  # `screenrec list | head`: the reader left, not an error
            raise typer.Exit(OK) from None
        raise typer.Exit(report(exc)) from None
