"""S3Storage: chunks and finals as objects in one S3 bucket (Amazon S3 or any S3-compatible
service) under the same keys as on disk; chunk writes are create-only conditional PUTs."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import uuid
from collections import deque
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from screenrec.config import MIB, Settings
from screenrec.errors import ChunkExists, ConfigError, NotFound, StorageError
from screenrec.models import FINAL_NAME, chunk_name, content_type
from screenrec.storage.base import ObjectRead
from screenrec.storage.s3_client import (
    EXISTS,
    MISSING,
    UNSUPPORTED,
    S3Client,
    code,
    discard_body,
    headers,
    open_client,
    s3_errors,
    stream_body,
)

log = logging.getLogger("screenrec.storage")

WEBM = "video/webm"
PREFETCH = 4  # chunk GETs answered ahead of the one being streamed (hides per-object latency)
MULTIPART_THRESHOLD = 16 * MIB  # finals this big go up in parts: memory stays at one part
PART_BYTES = 16 * MIB
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
LIST_PAGE = 1000  # ListObjectsV2 answers at most 1000 keys a page
PRESIGN_SECONDS = 900
_CHUNK_KEY_RE = re.compile(r"chunk-(0|[1-9][0-9]*)\.webm")
_BUCKET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,254}")


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> (`bucket`, `some/prefix/`); the prefix may be empty."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not _BUCKET_RE.fullmatch(parts.netloc) or parts.query:
        raise ConfigError(f"not an S3 storage URL: {url!r} (use s3://bucket or s3://bucket/prefix)")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


def _exists(record_id: str, index: int) -> ChunkExists:
    return ChunkExists(f"chunk {index} of {record_id} is already stored", record_id=record_id)


def _total(content_range: str | None, default: int) -> int:
    """The whole size from a Content-Range (`bytes 0-99/N` or `bytes */N`)."""
    tail = (content_range or "").rpartition("/")[2]
    return int(tail) if tail.isdigit() else default


def _read_part(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(size)


class S3Storage:
    """Storage in an S3 bucket under an optional key prefix, through one aiobotocore client."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        scratch: Path,
        endpoint_url: str | None = None,
        region: str | None = None,
        presign: bool = False,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.region = region
        self.presign = presign
        self._scratch = scratch
        self._client: S3Client | None = None
        self._exit = contextlib.AsyncExitStack()
        self._client_lock = asyncio.Lock()
        self._conditional: bool | None = None  # does the service honour If-None-Match: *?

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        """The storage `settings.storage` (an s3:// URL) and the s3_* settings describe."""
        bucket, prefix = parse_s3_url(settings.storage or "")
        return cls(
            bucket, prefix, scratch=settings.data_dir / "scratch",
            endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
            presign=settings.s3_presign,
        )  # fmt: skip

    def _key(self, record_id: str, name: str) -> str:
        return f"{self.prefix}{record_id}/{name}"

    async def _s3(self) -> S3Client:
        """The client, created on first use inside the running event loop."""
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    creating = open_client(self.endpoint_url, self.region)
                    with s3_errors("connect to S3"):
                        self._client = await self._exit.enter_async_context(creating)
        return self._client

    async def ping(self) -> None:
        """Raise StorageError unless the bucket answers (for a check at start-up)."""
        client = await self._s3()
        with s3_errors(f"reach bucket {self.bucket!r}"):
            await client.head_bucket(Bucket=self.bucket)

    # -- chunks ---------------------------------------------------------------------------

    async def put_chunk(self, record_id: str, index: int, data: bytes) -> None:
        client = await self._s3()
        key = self._key(record_id, chunk_name(index))
        with s3_errors(f"store chunk {index} of {record_id}", record_id):
            if not await self._conditional_writes(client):
                # Weaker: two writers racing for one index can both pass the check.
                if await self._size(client, key) is not None:
                    raise _exists(record_id, index)
                await client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=WEBM)
                return
            try:
                await client.put_object(
                    Bucket=self.bucket, Key=key, Body=data, ContentType=WEBM, IfNoneMatch="*"
                )
            except ClientError as exc:
                if code(exc) not in EXISTS:
                    raise
                # A retried PUT whose first try landed finds its own bytes: that is success.
                retried = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) > 0
                if not (retried and await self._holds(client, key, data)):
                    raise _exists(record_id, index) from None

    async def _conditional_writes(self, client: S3Client) -> bool:
        """Whether the service refuses a second `If-None-Match: *` PUT (probed once): some
        S3-compatible services ignore the header, and would silently overwrite."""
        if self._conditional is None:
            async with self._client_lock:
                if self._conditional is None:
                    self._conditional = await self._probe_conditional(client)
                    if not self._conditional:
                        log.warning(
                            "S3 service does not refuse overwrites (If-None-Match: *); chunks "
                            "are written check-then-put, which is not atomic"
                        )
        return self._conditional

    async def _probe_conditional(self, client: S3Client) -> bool:
        key = f"{self.prefix}.screenrec-probe/{uuid.uuid4().hex}"
        put = {"Bucket": self.bucket, "Key": key, "Body": b"", "IfNoneMatch": "*"}
        try:
            await client.put_object(**put)
            await client.put_object(**put)
        except ClientError as exc:
            if code(exc) in UNSUPPORTED:
                return False
            if code(exc) not in EXISTS:
                raise
            return True
        finally:
            with contextlib.suppress(ClientError, BotoCoreError, OSError):
                await client.delete_object(Bucket=self.bucket, Key=key)
        return False

    async def _size(self, client: S3Client, key: str) -> int | None:
        """The object's size, None if there is none."""
        try:
            head = await client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if code(exc) in MISSING:
                return None
            raise
        return int(head["ContentLength"])

    async def _holds(self, client: S3Client, key: str, data: bytes) -> bool:
        """Whether the object at `key` has exactly `data` (a single-part ETag is its MD5)."""
        head = await client.head_object(Bucket=self.bucket, Key=key)
        md5 = await asyncio.to_thread(hashlib.md5, data, usedforsecurity=False)
        return str(head.get("ETag", "")).strip('"') == md5.hexdigest()

    async def _list(self, record_id: str) -> list[tuple[str, int]]:
        """(name, size) of every object under the recording's key prefix (all pages)."""
        client = await self._s3()
        prefix = self._key(record_id, "")
        found: list[tuple[str, int]] = []
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": LIST_PAGE}
        with s3_errors(f"list the files of {record_id}", record_id):
            while True:
                page = await client.list_objects_v2(**request)
                found += [(o["Key"][len(prefix) :], o["Size"]) for o in page.get("Contents", [])]
                if not page.get("IsTruncated"):
                    return found
                request["ContinuationToken"] = page["NextContinuationToken"]

    async def chunk_sizes(self, record_id: str) -> dict[int, int]:
        return {
            int(m.group(1)): size
            for name, size in await self._list(record_id)
            if (m := _CHUNK_KEY_RE.fullmatch(name))
        }

    async def _open_chunk(self, client: S3Client, record_id: str, index: int) -> Any:
        key = self._key(record_id, chunk_name(index))
        with s3_errors(f"read chunk {index} of {record_id}", record_id):
            try:
                answer = await client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if code(exc) not in MISSING:
                    raise
                raise StorageError(
                    f"chunk {index} of {record_id} is missing from storage", record_id=record_id
                ) from None
        return answer["Body"]

    async def read_chunks(self, record_id: str, indices: list[int]) -> AsyncGenerator[bytes, None]:
        client = await self._s3()
        upcoming = iter(indices)
        opening: deque[tuple[int, asyncio.Task[Any]]] = deque()

        def open_next() -> None:
            if (index := next(upcoming, None)) is not None:
                task = asyncio.create_task(self._open_chunk(client, record_id, index))
                opening.append((index, task))

        try:
            for _ in range(PREFETCH):
                open_next()
            while opening:
                index, task = opening.popleft()
                body = await task
                open_next()
                what = f"read chunk {index} of {record_id}"
                async with contextlib.aclosing(stream_body(body, what)) as blocks:
                    async for block in blocks:
                        yield block
        finally:
            for _, task in opening:
                task.cancel()
                task.add_done_callback(discard_body)

    # -- finals and housekeeping ----------------------------------------------------------

    def scratch_dir(self) -> Path:
        self._scratch.mkdir(parents=True, exist_ok=True)
        return self._scratch

    async def put_final(self, record_id: str, source: Path, name: str = FINAL_NAME) -> int:
        client = await self._s3()
        key = self._key(record_id, name)
        kind = content_type(name)
        with s3_errors(f"store {name} of {record_id}", record_id):
            size = (await asyncio.to_thread(source.stat)).st_size
            if size < MULTIPART_THRESHOLD:
                data = await asyncio.to_thread(source.read_bytes)
                await client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=kind)
            else:
                await self._put_multipart(client, key, source, size, kind)
        return size

    async def _put_multipart(
        self, client: S3Client, key: str, source: Path, size: int, kind: str
    ) -> None:
        """Upload in PART_BYTES parts, one part in memory at a time; abort on any failure so
        no orphaned parts are left to pay for."""
        where = {"Bucket": self.bucket, "Key": key}
        upload_id = (await client.create_multipart_upload(**where, ContentType=kind))["UploadId"]
        parts: list[dict[str, Any]] = []
        try:
            for number, offset in enumerate(range(0, size, PART_BYTES), start=1):
                data = await asyncio.to_thread(_read_part, source, offset, PART_BYTES)
                answer = await client.upload_part(
                    **where, UploadId=upload_id, PartNumber=number, Body=data
                )
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            await client.complete_multipart_upload(
                **where, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with contextlib.suppress(ClientError, BotoCoreError, OSError):
                await client.abort_multipart_upload(**where, UploadId=upload_id)
            raise

    async def _delete(self, record_id: str, names: list[str]) -> None:
        client = await self._s3()
        keys = [self._key(record_id, name) for name in names]
        with s3_errors(f"delete files of {record_id}", record_id):
            for start in range(0, len(keys), DELETE_BATCH):
                objects = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
                answer = await client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
                failed = [e for e in answer.get("Errors", []) if e.get("Code") not in MISSING]
                if failed:
                    first = failed[0]
                    raise StorageError(
                        f"could not delete {first.get('Key')}: S3 answered {first.get('Code')}: "
                        f"{first.get('Message', '')} ({len(failed)} failed)",
                        record_id=record_id,
                    )

    async def delete_chunks(self, record_id: str, indices: set[int]) -> None:
        await self._delete(record_id, [chunk_name(i) for i in sorted(indices)])

    async def usage(self, record_id: str) -> int:
        return sum(size for _, size in await self._list(record_id))

    async def delete_recording(self, record_id: str) -> int:
        found = await self._list(record_id)
        await self._delete(record_id, [name for name, _ in found])
        return sum(size for _, size in found)

    # -- downloads (the RemoteDownloads capability) ---------------------------------------

    async def presigned_url(
        self, record_id: str, name: str, filename: str, content_type: str
    ) -> str | None:
        if not self.presign:
            return None
        client = await self._s3()
        key = self._key(record_id, name)
        with s3_errors(f"sign a download of {record_id}/{name}", record_id):
            if await self._size(client, key) is None:
                raise NotFound(f"no file {record_id}/{name}", record_id=record_id)
            params = {
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
                "ResponseContentType": content_type,
            }
            return await client.generate_presigned_url("get_object", params, PRESIGN_SECONDS)

    async def open_read(
        self, record_id: str, name: str, *, byte_range: str | None, if_none_match: str | None,
        head: bool = False,
    ) -> ObjectRead:  # fmt: skip
        client = await self._s3()
        request = {"Bucket": self.bucket, "Key": self._key(record_id, name)}
        if byte_range:
            request["Range"] = byte_range
        if if_none_match:
            request["IfNoneMatch"] = if_none_match
        what = f"read {record_id}/{name}"
        with s3_errors(what, record_id):
            try:
                answer = await client.get_object(**request)
            except ClientError as exc:
                failure = code(exc)
                if failure in MISSING:
                    raise NotFound(f"no file {record_id}/{name}", record_id=record_id) from None
                if failure in ("304", "NotModified"):
                    return ObjectRead(304, 0, 0, etag=headers(exc).get("etag", if_none_match))
                if failure in ("InvalidRange", "416"):
                    return ObjectRead(416, _total(headers(exc).get("content-range"), 0), 0)
                raise
        content_range = answer.get("ContentRange")
        length = int(answer["ContentLength"])
        body = answer["Body"]
        if head:
            body.close()
        return ObjectRead(
            206 if content_range else 200,
            _total(content_range, length),
            length,
            etag=answer.get("ETag"),
            last_modified=answer.get("LastModified"),
            content_range=content_range,
            body=None if head else stream_body(body, what),
        )

    async def close(self) -> None:
        self._client = None
        with s3_errors("close the S3 client"):
            await self._exit.aclose()
