"""The storage registry: which Storage backend a configuration selects (imported lazily)."""

from __future__ import annotations

from collections.abc import Callable

from screenrec.config import Settings
from screenrec.errors import ConfigError
from screenrec.storage.base import LocalFiles, ObjectRead, RemoteDownloads, Storage

__all__ = ["LocalFiles", "ObjectRead", "RemoteDownloads", "Storage", "open_storage"]


def _open_local(settings: Settings) -> Storage:
    from screenrec.storage.local_storage import LocalStorage

    return LocalStorage(settings.storage_dir)


def _open_s3(settings: Settings) -> Storage:
    try:
        from screenrec.storage.s3_storage import S3Storage
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in ("aiobotocore", "botocore"):
            raise ConfigError("S3 storage needs aiobotocore: pip install 'screenrec[s3]'") from exc
        raise
    return S3Storage.from_settings(settings)


# URL scheme -> opener; a plain path (no scheme) is a local directory.
_SCHEMES: dict[str, Callable[[Settings], Storage]] = {"s3": _open_s3}


def open_storage(settings: Settings) -> Storage:
    """The storage the settings select: a local directory unless an `s3://` URL is given."""
    scheme, sep, _ = (settings.storage or "").partition("://")
    if not sep:
        return _open_local(settings)
    opener = _SCHEMES.get(scheme.lower())
    if opener is None:
        known = ", ".join(f"{name}://" for name in _SCHEMES)
        raise ConfigError(
            f"unknown storage {settings.storage!r}: use a directory path or one of {known}"
        )
    return opener(settings)
