"""What every command shares: its setting options, generated from the settings table; Settings
built from them inside the error reporter; the data dir check; one service call per command."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from screenrec.cli.report import reporting, with_hint
from screenrec.config import (
    SETTINGS,
    Setting,
    Settings,
    env_name,
    redacted_url,
)
from screenrec.errors import ConfigError

if TYPE_CHECKING:
    from screenrec.service import RecordingService

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _parameter(setting: Setting) -> inspect.Parameter:
    """The Typer option of one setting. Values stay text: Settings.load parses them, so a bad
    value gets the same message from the CLI as from the environment."""
    kind = setting.kind
    annotation: Any = bool | None if kind.flag else list[str] | None if kind.repeat else str | None
    option = typer.Option(
        setting.flag,
        envvar=setting.env,
        help=f"{setting.help} Default: {setting.default}.",
        metavar=None if kind.flag else kind.metavar,
        show_default=False,
    )
    return inspect.Parameter(
        setting.name, inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[annotation, option],
    )  # fmt: skip


def _from_command_line(ctx: typer.Context, name: str, value: Any) -> Any:
    """The value if it came from the command line; None if click read it from the environment,
    so Settings.load reads it again and names the variable in its errors."""
    source = ctx.get_parameter_source(name)
    return None if source is not None and source.name == "ENVIRONMENT" else value


def command(app: typer.Typer, *groups: str, name: str | None = None) -> Callable[[F], F]:
    """Register `func` as a command with an option per setting in `groups`. A `settings`
    parameter receives Settings built from them; every error goes through the reporter."""

    def register(func: F) -> F:
        chosen = [s for s in SETTINGS if s.group in groups]
        signature = inspect.signature(func, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "settings"]

        @functools.wraps(func)
        def run(_ctx: typer.Context, **kwargs: Any) -> Any:
            given = {s.name: _from_command_line(_ctx, s.name, kwargs.pop(s.name)) for s in chosen}
            with reporting():
                if "settings" in signature.parameters:
                    kwargs["settings"] = Settings.load(given)
                return func(**kwargs)

        context = inspect.Parameter("_ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    annotation=typer.Context)  # fmt: skip
        parameters = [context, *own, *map(_parameter, chosen)]
        run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        app.command(name)(run)
        return func

    return register


def _uses_data_dir(settings: Settings) -> bool:
    return settings.redis_url is None or settings.storage is None


def prepare_data_dir(settings: Settings, *, create: bool = False) -> None:
    """`serve` creates the data dir; every other command needs it to exist, so a mistyped
    --data-dir is an error instead of a new, empty database."""
    path = settings.data_dir
    if not _uses_data_dir(settings) or path.is_dir():
        return
    where = f"--data-dir or {env_name('data_dir')}"
    if path.exists():
        raise with_hint(ConfigError(f"data dir {path} is not a directory"), f"check {where}")
    if not create:
        raise with_hint(
            ConfigError(f"data dir {path} does not exist"),
            f"`screenrec serve` creates it; pass the one the server uses ({where})",
        )
    try:
        path.mkdir(parents=True)
    except OSError as exc:
        raise ConfigError(f"cannot create data dir {path}: {exc.strerror}") from None


def store_read(settings: Settings) -> str:
    """Which state store a command reads: `sqlite at PATH` or `redis at URL`."""
    if settings.redis_url:
        return f"redis at {redacted_url(settings.redis_url)}"
    return f"sqlite at {settings.sqlite_path}"


def other_store_hint(settings: Settings) -> str:
    """For an empty result: which store was read, and how to read the other one."""
    read = f"read {store_read(settings)}"
    if not settings.redis_url:
        return (
            f"{read}; a server started with --redis-url keeps its state in Redis: pass it here too"
        )
    if settings.sqlite_path.exists():
        variables = f"{env_name('redis_url')} and REDIS_HOST"
        return f"{read}; {settings.sqlite_path} holds state too: unset {variables} to read it"
    return read


class _WarningsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno == logging.WARNING


def _show_service_warnings() -> None:
    """Admin commands report every outcome (and error) themselves: of the service's log, show
    warnings only, as `warning: ...` lines. Errors would be reported twice."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    handler.addFilter(_WarningsOnly())
    logging.getLogger().handlers[:] = [handler]


def run_service(settings: Settings, call: Callable[[RecordingService], Awaitable[T]]) -> T:
    """Open the service the settings select, run one call, close it."""
    from screenrec.service import RecordingService

    prepare_data_dir(settings)
    _show_service_warnings()

    async def go() -> T:
        service = RecordingService.open(settings)
        try:
            return await call(service)
        finally:
            await service.close()

    return asyncio.run(go())


AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def print_json(value: Any) -> None:
    """One JSON document on stdout."""
    print(json.dumps(value, indent=2))
