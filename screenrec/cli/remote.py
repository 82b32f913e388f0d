"""Asking a running server over HTTP (`status --server`): its health, or one recording's
status document; its error answers become our errors, so exit codes match local ones."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from screenrec.errors import ConfigError, ScreenrecError
from screenrec.models import validate_record_id


def _errors_by_code() -> dict[str, type[ScreenrecError]]:
    found: dict[str, type[ScreenrecError]] = {}
    todo = [ScreenrecError]
    while todo:  # breadth first: a base class before the subclasses that share its code
        kind = todo.pop(0)
        found.setdefault(kind.code, kind)
        todo += kind.__subclasses__()
    return found


def server_url(url: str) -> str:
    """The `--server` URL without a trailing slash; ConfigError unless http(s)://."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--server must be an http:// or https:// URL, got {url!r}")
    return url.rstrip("/")


def _get(url: str, token: str | None) -> tuple[int, Any]:
    """GET a JSON answer: (HTTP status, document). Error statuses with a JSON body are answers
    too; anything else is a ScreenrecError."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read())
        except ValueError:
            raise ScreenrecError(f"{url} answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ScreenrecError(f"{url} did not answer: {reason}") from None
    except ValueError:
        raise ScreenrecError(f"{url} did not answer with JSON") from None


def _raise_answer(url: str, status: int, doc: Any) -> None:
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, dict):
        raise ScreenrecError(f"{url} answered {status} without an error document")
    kind = _errors_by_code().get(str(error.get("code")), ScreenrecError)
    raise kind(f"the server answered {status}: {error.get('message')}")


def health(server: str, token: str | None) -> dict[str, Any]:
    """The `/healthz` document; a degraded server (503) answers one too."""
    url = f"{server}/healthz"
    status, doc = _get(url, token)
    if status not in (200, 503) or not isinstance(doc, dict) or "status" not in doc:
        _raise_answer(url, status, doc)
    return doc


def recording(server: str, record_id: str, token: str | None) -> dict[str, Any]:
    """`GET /recordings/ID/status` on the server."""
    validate_record_id(record_id)
    url = f"{server}/recordings/{quote(record_id, safe='')}/status"
    status, doc = _get(url, token)
    if status != 200:
        _raise_answer(url, status, doc)
    return doc
