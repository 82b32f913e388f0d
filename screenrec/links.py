"""Access tokens and signed, expiring download links (HMAC-SHA256). Pure: no I/O.

Several tokens may be configured (rotation): any of them is accepted, the first signs links.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

DOWNLOAD_PREFIX = "/recordings/download/"


class Links:
    """Checks presented tokens and signs or verifies download links."""

    def __init__(self, tokens: tuple[str, ...] = (), ttl: float = 86_400.0) -> None:
        self._tokens = tuple(t.encode() for t in tokens if t)
        self.ttl = ttl

    @property
    def enabled(self) -> bool:
        """True when a token is configured: everything but signed links needs it."""
        return bool(self._tokens)

    def check_token(self, presented: object) -> bool:
        """Constant-time comparison against every configured token."""
        if not isinstance(presented, str) or not presented:
            return False
        given = presented.encode()
        return any(hmac.compare_digest(given, token) for token in self._tokens)

    def _signature(self, key: str, expires: int, token: bytes) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(token, message, hashlib.sha256).hexdigest()

    def _signed(self, path: str, key: str, now: float | None) -> str:
        """`path`, with an expiry and a signature of `key` when tokens are on."""
        if not self.enabled:
            return path
        expires = int((time.time() if now is None else now) + self.ttl)
        return f"{path}?expires={expires}&sig={self._signature(key, expires, self._tokens[0])}"

    def download(self, key: str, now: float | None = None) -> str:
        """The download path of `key` (`{recordId}/final.webm`), signed when tokens are on."""
        return self._signed(DOWNLOAD_PREFIX + quote(key, safe=""), key, now)

    def live(self, record_id: str, now: float | None = None) -> str:
        """The live view path of a recording, signed (key `{recordId}/live`) like a download
        link when tokens are on."""
        return self._signed(f"/recordings/{record_id}/live", f"{record_id}/live", now)

    def verify(self, key: str, expires: str, signature: str, now: float | None = None) -> bool:
        """True for an unexpired link signed with any configured token."""
        try:
            deadline = int(expires)
        except ValueError:
            return False
        if deadline < (time.time() if now is None else now):
            return False
        return any(
            hmac.compare_digest(signature, self._signature(key, deadline, token))
            for token in self._tokens
        )
