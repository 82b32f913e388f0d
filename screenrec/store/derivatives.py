"""How both stores keep a recording's derivatives: one small JSON object per recording,
`{"mp4": {"status": "pending", "error": "..."}}`, beside a queue of jobs to claim."""

from __future__ import annotations

import json

from screenrec.models import Derivative, DerivativeState

LEASE_SECONDS = 15.0  # a claimed job is hidden this long; its worker renews it while it runs


def derivatives_from_json(text: str | None) -> tuple[Derivative, ...]:
    """The stored JSON (None or empty: no derivatives) as Derivative rows, by kind."""
    found = json.loads(text) if text else {}
    return tuple(
        Derivative(kind, DerivativeState(info["status"]), info.get("error"))
        for kind, info in sorted(found.items())
    )


def with_derivative(
    text: str | None, kind: str, status: DerivativeState, error: str | None = None
) -> str:
    """The stored JSON with `kind` set to `status` (and `error`, kept only when given)."""
    found = json.loads(text) if text else {}
    found[kind] = {"status": str(status), **({"error": error} if error else {})}
    return json.dumps(found, sort_keys=True)
