"""Settings: one frozen dataclass per process, and the table of every setting (name, flag, env,
default, parser, help, which commands take it). The CLI options, the docs check and the
`/healthz` config view come from the table. CLI option > environment > default."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
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
    return _parse_list(text) or ("*",)


def _parse_list(text: str | tuple[str, ...]) -> tuple[str, ...]:
    parts = text if isinstance(text, tuple) else re.split(r"[\s,]+", text)
    return tuple(part.strip() for part in parts if part.strip())


def _parse_kinds(text: str | tuple[str, ...]) -> tuple[str, ...]:
    kinds = tuple(kind.lower() for kind in _parse_list(text))
    for kind in kinds:
        if kind != "mp4":
            raise ConfigError(f"the only derivative is mp4, not {kind!r}")
    return kinds


def _parse_optional_duration(text: str | float | None) -> float | None:
    if text is None or (isinstance(text, str) and text.strip().lower() in ("", "off", "0")):
        return None
    return parse_duration(text)


def _parse_port(text: str | int) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ConfigError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"port out of range: {port}")
    return port


def _parse_count(text: str | int) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"not a whole number: {text!r}") from None


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ConfigError(f"use {', '.join(choices[:-1])} or {choices[-1]}, not {text!r}")
        return value

    return parse


@dataclass(frozen=True)
class Kind:
    """How a setting is written: its parser, its metavar in `--help`, and whether the option is
    an on/off flag or may be repeated (its environment variable then takes a list)."""

    parse: Callable[[Any], Any]
    metavar: str = "TEXT"
    flag: bool = False
    repeat: bool = False


TEXT, PATH, URL = Kind(str), Kind(Path, "DIR"), Kind(str, "URL")
PORT, COUNT = Kind(_parse_port, "PORT"), Kind(_parse_count, "N")
SIZE, DURATION = Kind(parse_size, "SIZE"), Kind(parse_duration, "DURATION")
MAYBE_DURATION = Kind(_parse_optional_duration, "DURATION")
DERIVE = Kind(lambda text: _parse_kinds(text), "KIND", repeat=True)
FLAG = Kind(_parse_bool, flag=True)
ORIGINS = Kind(_parse_origins, "ORIGIN", repeat=True)
URLS, TOKENS = Kind(_parse_list, "URL", repeat=True), Kind(_parse_list, "TOKEN", repeat=True)
LEVEL = Kind(_one_of("debug", "info", "warning", "error"), "LEVEL")
LOG_FORMAT = Kind(_one_of("text", "json"), "FORMAT")

# Which commands take a group is the CLI's choice (screenrec/cli/options.py).
SERVER = "server"  # only `serve`
DATA = "data"  # where recordings are: every command that reads or changes them
FINALIZE = "finalize"  # how finals are made: `serve`, `finalize`
MEDIA = "media"  # the ffmpeg binary: also `status` (codecs) and `simulate`
ACCESS = "access"  # tokens: `serve` requires them, `status --server` and `simulate` send one


@dataclass(frozen=True)
class Setting:
    """One row of the settings table. `default` is the text `--help` and the docs show, and
    parses to the `Settings` field's default (a test checks it) unless it is prose."""

    name: str
    env: str
    default: str
    help: str
    kind: Kind = TEXT
    group: str = SERVER
    public: bool = False  # part of the `/healthz` config view
    option: str = ""  # the CLI flag, when not `--` + the name with dashes

    @property
    def flag(self) -> str:
        """The CLI option: `--data-dir`, `--keep-chunks/--no-keep-chunks`, `--token`."""
        base = self.option or "--" + self.name.replace("_", "-")
        return f"{base}/--no-{base[2:]}" if self.kind.flag else base

    def parse(self, raw: Any, source: str) -> Any:
        """The value of `raw` (from the CLI or the environment); ConfigError names `source`."""
        try:
            return self.kind.parse(raw)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc.message}") from None


S = Setting
SETTINGS: tuple[Setting, ...] = (
    # -- where recordings are (every command that reads or changes them) --
    S("data_dir", "SCREENREC_DATA_DIR", "platformdirs user data dir",
      "State (state.sqlite3) and, by default, recordings.", PATH, DATA),
    S("redis_url", "SCREENREC_REDIS_URL", "unset",
      "Redis state store instead of SQLite (redis://, rediss://, unix://).", URL, DATA),
    S("storage", "SCREENREC_STORAGE", "DATA_DIR/recordings",
      "Media storage: a directory, or s3://bucket/prefix.", Kind(str, "DIR|URL"), DATA),
    S("s3_endpoint_url", "SCREENREC_S3_ENDPOINT_URL", "AWS",
      "Endpoint of an S3-compatible service.", URL, DATA),
    S("s3_region", "SCREENREC_S3_REGION", "the AWS configuration", "S3 region.", TEXT, DATA),
    S("s3_presign", "SCREENREC_S3_PRESIGN", "off",
      "Redirect S3 downloads to presigned URLs.", FLAG, DATA),
    # -- how finals are made --
    S("ffmpeg", "SCREENREC_FFMPEG", "ffmpeg on PATH, else imageio-ffmpeg", "ffmpeg binary to run.",
      Kind(str, "PATH"), MEDIA),
    S("keep_chunks", "SCREENREC_KEEP_CHUNKS", "off",
      "Keep chunk files after finalize.", FLAG, FINALIZE, public=True),
    S("finalize_timeout", "SCREENREC_FINALIZE_TIMEOUT", "600s",
      "Longest one ffmpeg run may take.", DURATION, FINALIZE, public=True),
    S("derive", "SCREENREC_DERIVE", "none",
      "Also make this copy of WebM finals in the background: mp4 (H.264 + AAC).",
      DERIVE, FINALIZE, public=True),
    # -- access --
    S("tokens", "SCREENREC_TOKEN", "none",
      "Access token: serve asks clients for it (repeat to rotate); clients send the first.",
      TOKENS, ACCESS, option="--token"),
    # -- the server --
    S("host", "SCREENREC_HOST", "0.0.0.0", "Interface to listen on.", Kind(str, "HOST")),
    S("port", "WEBSOCKET_PORT", "8000", "Port for Socket.IO and REST; 0 picks a free one.", PORT),
    S("cors_origins", "SCREENREC_CORS_ORIGINS", "*",
      "Allowed origin (repeat; * allows all).", ORIGINS, public=True, option="--cors-origin"),
    S("web", "SCREENREC_WEB", "on", "Serve the recorder page at /.", FLAG, public=True),
    S("max_chunk_bytes", "SCREENREC_MAX_CHUNK_BYTES", "32MiB", "Largest chunk accepted.",
      SIZE, public=True),
    S("max_connections", "SCREENREC_MAX_CONNECTIONS", "1000",
      "Socket.IO connections at once.", COUNT, public=True),
    S("max_recordings_per_connection", "SCREENREC_MAX_RECORDINGS_PER_CONNECTION", "16",
      "Recordings one connection may feed.", COUNT, public=True),
    S("max_recording_bytes", "SCREENREC_MAX_RECORDING_BYTES", "16GiB",
      "Largest recording (all its chunks).", SIZE, public=True),
    S("derive_workers", "SCREENREC_DERIVE_WORKERS", "1",
      "Copies (--derive) encoded at once by this server.", COUNT, public=True),
    S("stale_after", "SCREENREC_STALE_AFTER", "15m",
      "Finalize recordings idle this long (0 = never).", DURATION, public=True),
    S("retention", "SCREENREC_RETENTION", "off",
      "Purge finished recordings older than this.", MAYBE_DURATION, public=True),
    S("webhook_urls", "SCREENREC_WEBHOOK_URLS", "none",
      "POST ready/failed events here (repeat).", URLS, option="--webhook-url"),
    S("webhook_secret", "SCREENREC_WEBHOOK_SECRET", "none",
      "HMAC-SHA256 key for webhook signatures.", Kind(str, "KEY")),
    S("link_ttl", "SCREENREC_LINK_TTL", "24h",
      "Signed download links expire after this.", DURATION, public=True),
    S("log_level", "SCREENREC_LOG_LEVEL", "info", "debug, info, warning or error.", LEVEL),
    S("log_format", "SCREENREC_LOG_FORMAT", "text",
      "text (for people) or json (one object a line).", LOG_FORMAT),
)  # fmt: skip
SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def env_name(name: str) -> str:
    """The environment variable of setting `name` (for Typer's `envvar=`)."""
    return SETTINGS_BY_NAME[name].env


def redacted_url(url: str) -> str:
    """`redis://user:secret@host` -> `redis://***@host`, for messages and hints."""
    return re.sub(r"//[^@/]*@", "//***@", url)


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


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
    derive: tuple[str, ...] = ()
    derive_workers: int = 1
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
            raw, source = options.get(setting.name), setting.flag.split("/")[0]
            if raw in (None, (), []):
                raw, source = environ.get(setting.env) or None, setting.env
            if raw is not None:
                raw = tuple(raw) if isinstance(raw, list) else raw
                values[setting.name] = setting.parse(raw, source)
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
        if self.derive_workers <= 0:
            raise ConfigError("derive_workers must be positive")
        if self.webhook_urls and not self.webhook_secret:
            raise ConfigError("webhooks need a secret to sign with: set --webhook-secret")

    @property
    def storage_dir(self) -> Path:
        """The local media directory: `storage` if set, else `data_dir/recordings`."""
        return Path(self.storage) if self.storage else self.data_dir / "recordings"

    @property
    def sqlite_path(self) -> Path:
        """The SQLite state file (when no Redis is configured)."""
        return self.data_dir / "state.sqlite3"

    @property
    def transport_limit(self) -> int:
        """The Socket.IO message limit: above the chunk limit, so an oversize chunk gets an error
        event instead of a dropped connection (over engine.io's limit a message closes the
        websocket with no error event; the client reconnects and the chunk is lost)."""
        return max(2 * self.max_chunk_bytes, self.max_chunk_bytes + 4 * MIB)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (for tests and the CLI)."""
        return replace(self, **changes)

    def public_view(self) -> dict[str, Any]:
        """The settings marked public, camelCase, as JSON values (durations in seconds, with
        the unit in the key): the config view of `/healthz`."""
        view: dict[str, Any] = {}
        for setting in SETTINGS:
            if setting.public:
                value = getattr(self, setting.name)
                seconds = setting.kind.parse in (parse_duration, _parse_optional_duration)
                key = _camel(setting.name) + ("Seconds" if seconds else "")
                view[key] = list(value) if isinstance(value, tuple) else value
        return view
