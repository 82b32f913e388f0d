"""`screenrec serve`: run the recording server until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio

from screenrec.cli.app import app
from screenrec.cli.options import command, prepare_data_dir
from screenrec.config import ACCESS, DATA, FINALIZE, MEDIA, SERVER, Settings
from screenrec.errors import ConfigError
from screenrec.logs import setup_logging


@command(app, SERVER, DATA, FINALIZE, MEDIA, ACCESS)
def serve(settings: Settings) -> None:
    """Run the recording server.

    Socket.IO /recording, the REST API and the recorder page on one port, until SIGINT or
    SIGTERM. Creates the data dir if it does not exist."""
    setup_logging(settings.log_level, settings.log_format)
    prepare_data_dir(settings, create=True)
    from screenrec.server import run

    listening: list[str] = []

    def announce(url: str) -> None:
        # Tests and scripts parse this line; the server logs who can use it right after.
        listening.append(url)
        print(f"screenrec listening on {url}", flush=True)

    try:
        asyncio.run(run(settings, announce))
    except OSError as exc:
        if listening:
            raise
        reason = exc.strerror or str(exc)
        raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: {reason}") from None
