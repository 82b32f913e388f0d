"""The narrow S3 client interface S3Storage depends on: how the aiobotocore client is made,
how its response bodies are read, and how botocore's errors become screenrec's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from screenrec.errors import StorageError

MISSING = frozenset({"NoSuchKey", "NotFound", "404"})
EXISTS = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
UNSUPPORTED = frozenset({"NotImplemented", "501"})
BLOCK_BYTES = 1024 * 1024  # one read from an object body while streaming it
ATTEMPTS = 4  # per request, with botocore's standard backoff on throttling and network errors


class S3Client(Protocol):
    """The calls S3Storage makes: aiobotocore's S3 client has them (tusd's s3store does the
    same with its S3API interface), so any object with these methods can stand in."""

    async def put_object(self, **kwargs: Any) -> dict[str, Any]: ...
    async def get_object(self, **kwargs: Any) -> dict[str, Any]: ...
    async def head_object(self, **kwargs: Any) -> dict[str, Any]: ...
    async def head_bucket(self, **kwargs: Any) -> dict[str, Any]: ...
    async def list_objects_v2(self, **kwargs: Any) -> dict[str, Any]: ...
    async def delete_objects(self, **kwargs: Any) -> dict[str, Any]: ...
    async def delete_object(self, **kwargs: Any) -> dict[str, Any]: ...
    async def create_multipart_upload(self, **kwargs: Any) -> dict[str, Any]: ...
    async def upload_part(self, **kwargs: Any) -> dict[str, Any]: ...
    async def complete_multipart_upload(self, **kwargs: Any) -> dict[str, Any]: ...
    async def abort_multipart_upload(self, **kwargs: Any) -> dict[str, Any]: ...
    async def generate_presigned_url(
        self, ClientMethod: str, Params: dict[str, Any], ExpiresIn: int
    ) -> str: ...


def open_client(endpoint_url: str | None, region: str | None) -> AbstractAsyncContextManager[Any]:
    """An aiobotocore S3 client (enter it inside the event loop). Credentials come from the
    standard AWS chain; a custom endpoint gets path-style addressing."""
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"} if endpoint_url else {},
        max_pool_connections=64,
        connect_timeout=10,
        read_timeout=60,
        retries={"mode": "standard", "max_attempts": ATTEMPTS},
        # Third-party services differ on botocore's newer default checksums.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return get_session().create_client(
        "s3", endpoint_url=endpoint_url, region_name=region, config=config
    )


def code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def headers(exc: ClientError) -> dict[str, str]:
    return exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})


@contextlib.contextmanager
def s3_errors(what: str, record_id: str | None = None) -> Iterator[None]:
    """Translate botocore's errors (aiobotocore wraps aiohttp's in them) into StorageError."""
    try:
        yield
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        reason = f"S3 answered {code(exc)}" + (f": {message}" if message else "")
        raise StorageError(f"could not {what}: {reason}", record_id=record_id) from exc
    except NoCredentialsError as exc:
        reason = "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile)"
        raise StorageError(f"could not {what}: {reason}", record_id=record_id) from exc
    except (BotoCoreError, OSError) as exc:
        raise StorageError(f"could not {what}: {exc}", record_id=record_id) from exc


async def stream_body(body: Any, what: str) -> AsyncGenerator[bytes, None]:
    """An object body in blocks of at most BLOCK_BYTES; the connection is released at the end."""
    try:
        while True:
            try:
                block = await body.read(BLOCK_BYTES)
            except Exception as exc:
                # Not only botocore's errors: aiohttp's payload errors reach us unwrapped.
                raise StorageError(f"could not {what}: {exc!r}") from exc
            if not block:
                return
            yield block
    finally:
        body.close()


def discard_body(task: asyncio.Task[Any]) -> None:
    """Done-callback for a GET nobody will read: close its body, swallow its error."""
    if not task.cancelled() and task.exception() is None:
        task.result().close()
