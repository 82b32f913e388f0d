"""Settings: one frozen dataclass per process, and the table of every setting (name, env, default).

Precedence is CLI option > environment > default. Only this module knows environment names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from screenrec.errors import ConfigError

MIB = 1024 * 1024
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*", re.IGNORECASE)
_DURATION_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_size(text: str | int) -> int:
    """`"32MiB"`, `"500k"`, `"1048576"` -> bytes (binary with `i`, decimal without)."""
    if isinstance(text, int):
        return text
    m = _SIZE_RE.fullmatch(text)
    if not m:
        raise ConfigError(f"not a size: {text!r} (try 32MiB, 500k or a byte count)")
    number, unit = float(m.group(1)), m.group(2).lower().rstrip("b")
    base = 1024 if unit.endswith("i") else 1000
    power = "kmgt".find(unit[:1]) + 1 if unit else 0
    return int(number * base**power)


def parse_duration(text: str | float) -> float:
    """`"15m"`, `"90s"`, `"7d"`, `"250ms"`, `"30"` -> seconds."""
    if isinstance(text, int | float):
        return float(text)
    m = _DURATION_RE.fullmatch(text)
    if not m:
        raise ConfigError(f"not a duration: {text!r} (try 30s, 15m, 2h or 7d)")
    return float(m.group(1)) * _DURATION_UNITS[(m.group(2) or "s").lower()]


def _parse_bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"not a boolean: {text!r} (use true or false)")


def _parse_origins(text: str | tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(text, tuple):
        return text
    return tuple(o.strip() for o in text.split(",") if o.strip()) or ("*",)


def _parse_log_format(text: str) -> str:
    value = text.strip().lower()
    if value not in ("text", "json"):
        raise ConfigError(f"log format must be text or json, got {text!r}")
    return value


def _parse_optional_duration(text: str | float | None) -> float | None:
    if text is None or (isinstance(text, str) and text.strip().lower() in ("", "off", "0")):
        return None
    return parse_duration(text)


def _parse_list(text: str | tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(text, tuple):
        return text
    return tuple(part for part in re.split(r"[\s,]+", text) if part)


def _parse_port(text: str | int) -> int:
    try:
        port = int(text)
    except ValueError as exc:
        raise ConfigError(f"not a port number: {text!r}") from exc
    if not 0 <= port <= 65535:
        raise ConfigError(f"port out of range: {port}")
    return port


@dataclass(frozen=True)
class Setting:
    """One row of the settings table: the field name, its env var, its parser and its help."""

    name: str
    env: str
    help: str
    parse: Callable[[Any], Any] = str


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "SCREENREC_HOST", "Interface to listen on.", str),
    Setting(
        "port", "WEBSOCKET_PORT", "Port for Socket.IO and REST (0 picks a free one).", _parse_port
    ),
    Setting("data_dir", "SCREENREC_DATA_DIR", "Where state and recordings live.", Path),
    Setting(
        "redis_url",
        "SCREENREC_REDIS_URL",
        "Redis state store URL (redis://, rediss://, unix://); REDIS_HOST also selects it.",
        str,
    ),
    Setting(
        "storage",
        "SCREENREC_STORAGE",
        "Media storage: a directory path, or s3://bucket/prefix for S3.",
        str,
    ),
    Setting(
        "s3_endpoint_url",
        "SCREENREC_S3_ENDPOINT_URL",
        "S3 endpoint for S3-compatible services (default: AWS).",
        str,
    ),
    Setting("s3_region", "SCREENREC_S3_REGION", "S3 region (default: the AWS configuration).", str),
    Setting(
        "s3_presign",
        "SCREENREC_S3_PRESIGN",
        "Answer S3 downloads with a redirect to a presigned URL instead of streaming them.",
        _parse_bool,
    ),
    Setting(
        "cors_origins",
        "SCREENREC_CORS_ORIGINS",
        "Comma-separated allowed origins; * allows all.",
        _parse_origins,
    ),
    Setting(
        "web",
        "SCREENREC_WEB",
        "Serve the recorder page at / (off: only Socket.IO and the REST API).",
        _parse_bool,
    ),
    Setting("max_chunk_bytes", "SCREENREC_MAX_CHUNK_BYTES", "Largest chunk accepted.", parse_size),
    Setting("max_connections", "SCREENREC_MAX_CONNECTIONS", "Socket.IO connections at once.", int),
    Setting(
        "max_recordings_per_connection",
        "SCREENREC_MAX_RECORDINGS_PER_CONNECTION",
        "Recordings one connection may start or feed.",
        int,
    ),
    Setting(
        "max_recording_bytes",
        "SCREENREC_MAX_RECORDING_BYTES",
        "Largest total size of one recording's chunks.",
        parse_size,
    ),
    Setting(
        "ffmpeg", "SCREENREC_FFMPEG", "ffmpeg binary (default: PATH, then imageio-ffmpeg).", str
    ),
    Setting(
        "keep_chunks", "SCREENREC_KEEP_CHUNKS", "Keep chunk files after finalize.", _parse_bool
    ),
    Setting(
        "finalize_timeout",
        "SCREENREC_FINALIZE_TIMEOUT",
        "Longest one ffmpeg run may take before it is killed.",
        parse_duration,
    ),
    Setting("log_level", "SCREENREC_LOG_LEVEL", "debug, info, warning or error.", str),
    Setting(
        "log_format",
        "SCREENREC_LOG_FORMAT",
        "text (for people) or json (one object a line).",
        _parse_log_format,
    ),
    Setting(
        "stale_after",
        "SCREENREC_STALE_AFTER",
        "serve finalizes recordings idle this long (0 = never).",
        parse_duration,
    ),
    Setting(
        "retention",
        "SCREENREC_RETENTION",
        "serve purges finished recordings older than this (off by default).",
        _parse_optional_duration,
    ),
    Setting(
        "webhook_urls",
        "SCREENREC_WEBHOOK_URLS",
        "URLs that get a signed JSON POST when a recording is ready or failed.",
        _parse_list,
    ),
    Setting(
        "webhook_secret", "SCREENREC_WEBHOOK_SECRET", "HMAC-SHA256 key for webhook signatures.", str
    ),
    Setting(
        "tokens",
        "SCREENREC_TOKEN",
        "Access tokens (several, comma-separated, for rotation); unset = open development mode.",
        _parse_list,
    ),
    Setting(
        "link_ttl",
        "SCREENREC_LINK_TTL",
        "How long a signed download link stays valid.",
        parse_duration,
    ),
)
SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def env_name(name: str) -> str:
    """The environment variable of setting `name` (for Typer's `envvar=`)."""
    return SETTINGS_BY_NAME[name].env


def default_data_dir() -> Path:
    """The platformdirs user data directory for screenrec."""
    return Path(platformdirs.user_data_dir("screenrec", appauthor=False))


@dataclass(frozen=True)
class Settings:
    """Everything a screenrec process is configured with. Tests build it directly."""

    host: str = "0.0.0.0"
    port: int = 8000
    data_dir: Path = field(default_factory=default_data_dir)
    redis_url: str | None = None
    storage: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_presign: bool = False
    cors_origins: tuple[str, ...] = ("*",)
    web: bool = True
    max_chunk_bytes: int = 32 * MIB
    max_connections: int = 1000
    max_recordings_per_connection: int = 16
    max_recording_bytes: int = 16 * 1024 * MIB
    ffmpeg: str | None = None
    keep_chunks: bool = False
    finalize_timeout: float = 600.0
    log_level: str = "info"
    log_format: str = "text"
    stale_after: float = 900.0
    retention: float | None = None
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str | None = None
    tokens: tuple[str, ...] = ()
    link_ttl: float = 86_400.0

    @classmethod
    def load(
        cls, options: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Build Settings from CLI `options` (None = not given), then `environ`, then defaults."""
        options = options or {}
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = options.get(setting.name)
            if raw is None:
                raw = environ.get(setting.env) or None
            if raw is not None:
                values[setting.name] = setting.parse(raw)
        if "redis_url" not in values and environ.get("REDIS_HOST"):
            port = environ.get("REDIS_PORT") or "6379"
            values["redis_url"] = f"redis://{environ['REDIS_HOST']}:{_parse_port(port)}/0"
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ConfigError for values no backend could work with."""
        if min(self.max_chunk_bytes, self.max_connections, self.max_recordings_per_connection,
               self.max_recording_bytes) <= 0:  # fmt: skip
            raise ConfigError("limits (max_*) must be positive")
        if self.finalize_timeout <= 0:
            raise ConfigError("finalize_timeout must be positive")
        if self.webhook_urls and not self.webhook_secret:
            raise ConfigError("webhooks need a secret to sign with: set --webhook-secret")

    @property
    def storage_dir(self) -> Path:
        """The local media directory: `storage` if set, else `data_dir/recordings`."""
        return Path(self.storage) if self.storage else self.data_dir / "recordings"

    @property
    def transport_limit(self) -> int:
        """The Socket.IO message limit: above the chunk limit, so an oversize chunk gets an error
        event instead of a dropped connection (FACTS.md section 2)."""
        return max(2 * self.max_chunk_bytes, self.max_chunk_bytes + 4 * MIB)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (for tests and the CLI)."""
        return replace(self, **changes)

    def describe(self) -> dict[str, Any]:
        """Settings as JSON-friendly values, for logs and `/healthz`."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Path) else value
        if self.redis_url:
            out["redis_url"] = re.sub(r"//[^@/]*@", "//***@", self.redis_url)
        if self.webhook_secret:
            out["webhook_secret"] = "***"
        out["tokens"] = len(self.tokens)
        return out
