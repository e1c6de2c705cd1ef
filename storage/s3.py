"""S3-compatible object storage (MinIO, AWS, SeaweedFS in tests), reached only through boto3.

Transient errors (timeouts, 5xx, throttling) are retried with backoff by :func:`with_retries`;
permanent ones become :class:`~storage.base.ObjectNotFound` / :class:`~storage.base.AccessDenied`.
"""

from __future__ import annotations

import functools
import io
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from django.conf import settings

from storage.base import (
    DEFAULT_CHUNK_SIZE,
    PART_CHECKSUM,
    PART_CHECKSUM_HEADER,
    AccessDenied,
    ObjectNotFound,
    StorageError,
    T,
    TransientStorageError,
)

logger = logging.getLogger(__name__)


_TRANSIENT_CODES = {
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "503",
    "500",
    "502",
    "504",
}
_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}


def _classify(exc: Exception, key: str) -> StorageError:
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in _NOT_FOUND_CODES or status == "404":
            return ObjectNotFound(f"object {key} not found in storage")
        if code in _DENIED_CODES or status == "403":
            return AccessDenied(f"storage refused access to {key} ({code or status})")
        if code in _TRANSIENT_CODES or status.startswith("5") or status == "429":
            return TransientStorageError(f"storage error on {key}: {code or status}")
        return StorageError(f"storage error on {key}: {code or status}")
    if isinstance(
        exc,
        EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError,
    ):
        return TransientStorageError(f"storage unreachable for {key}: {exc}")
    return StorageError(f"storage error on {key}: {exc}")


def _botocore_cause(exc: BaseException) -> BaseException | None:
    """The botocore error behind one of boto3's transfer errors, if any."""
    from botocore.exceptions import BotoCoreError, ClientError

    seen = exc.__cause__ or exc.__context__
    while seen is not None:
        if isinstance(seen, ClientError | BotoCoreError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def with_retries(
    func: Callable[[], T], *, key: str, attempts: int = 5, base_delay: float = 0.2
) -> T:
    """Call ``func``; retry transient S3 errors with exponential backoff, never permanent ones."""
    from botocore.exceptions import BotoCoreError, ClientError

    for attempt in range(1, attempts + 1):
        try:
            return func()
        except (ClientError, BotoCoreError) as exc:
            error = _classify(exc, key)
            if not isinstance(error, TransientStorageError) or attempt == attempts:
                raise error from exc
            delay = base_delay * 2 ** (attempt - 1)
            logger.warning("transient storage error (%s); retry %d in %.1fs", error, attempt, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class S3Store:
    """Objects in an S3-compatible bucket, reached through boto3 over HTTP(S)."""

    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None,
        access_key: str | None,
        secret_key: str | None,
        region: str,
        public_endpoint_url: str | None = None,
        addressing_style: str = "path",
    ):
        self.bucket = bucket
        self._endpoint_url = endpoint_url
        self._public_endpoint_url = public_endpoint_url or endpoint_url
        self._credentials = dict(aws_access_key_id=access_key, aws_secret_access_key=secret_key)
        self._region = region
        self._addressing_style = addressing_style
        self.client = self._make_client(endpoint_url)
        # Presigned URLs are for browsers and the CLI, who may reach the server by another name.
        self.public_client = (
            self.client
            if self._public_endpoint_url == endpoint_url
            else self._make_client(self._public_endpoint_url)
        )

    def _make_client(self, endpoint_url: str | None) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            region_name=self._region,
            signature_version="s3v4",
            s3={"addressing_style": self._addressing_style},
            retries={"max_attempts": 1, "mode": "standard"},  # we retry ourselves, by kind
            connect_timeout=10,
            read_timeout=60,
            max_pool_connections=32,
        )
        return boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, config=config, **self._credentials
        )

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (the demo, compose and tests); a key without
        access to it gets :meth:`check_access`'s message."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if not isinstance(_classify(exc, self.bucket), ObjectNotFound):
                self.check_access()
            self.client.create_bucket(Bucket=self.bucket)

    def check_access(self) -> None:
        """Raise a :class:`StorageError` that says what to fix when the configured credentials
        cannot use the bucket (``manage.py check_storage``, the health endpoint)."""
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"bucket {self.bucket!r} at {self.client.meta.endpoint_url}"
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            error = _classify(exc, self.bucket)
            key_id = self._credentials.get("aws_access_key_id") or "(none)"
            if isinstance(error, AccessDenied):
                raise AccessDenied(
                    f"the S3 credentials (access key {key_id}) have no access to {where}: "
                    "give that key read and write access to the bucket, or set "
                    "S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY to a key that has it"
                ) from exc
            if isinstance(error, ObjectNotFound):
                raise ObjectNotFound(f"there is no {where}: create it, or set S3_BUCKET") from exc
            raise type(error)(f"cannot reach {where}: {error}") from exc

    def configure_cors(self, origins: list[str], *, max_age: int = 3600) -> bool:
        """Let browsers on ``origins`` PUT parts straight to the bucket and read the ``ETag``
        of each part (which completing a multipart upload needs). Browser uploads fail
        without it; the demo/compose setup and the tests call this.

        Returns False when the server has no per-bucket CORS (MinIO's community edition
        answers NotImplemented: there, set ``MINIO_API_CORS_ALLOW_ORIGIN`` server-wide)."""
        from botocore.exceptions import ClientError

        rules = {
            "CORSRules": [
                {
                    "AllowedOrigins": list(origins),
                    "AllowedMethods": ["GET", "HEAD", "PUT", "POST"],
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": max_age,
                }
            ]
        }
        try:  # a one-off configuration call: no retries, so a 501 is not taken as transient
            self.client.put_bucket_cors(Bucket=self.bucket, CORSConfiguration=rules)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NotImplemented", "MalformedXML"}:
                logger.warning(
                    "bucket %s: no per-bucket CORS on this server (%s)", self.bucket, exc
                )
                return False
            raise _classify(exc, self.bucket) from exc
        return True

    def size(self, key: str) -> int:
        head = with_retries(lambda: self.client.head_object(Bucket=self.bucket, Key=key), key=key)
        return int(head["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except ObjectNotFound:
            return False
        return True

    def read(self, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("offset and length must be >= 0")
        if length == 0:
            return b""
        byte_range = f"bytes={offset}-{offset + length - 1}"

        def get() -> bytes:
            response = self.client.get_object(Bucket=self.bucket, Key=key, Range=byte_range)
            return bytes(response["Body"].read())

        from botocore.exceptions import ClientError

        try:
            return with_retries(get, key=key)
        except StorageError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and cause.response["Error"].get("Code") == (
                "InvalidRange"
            ):
                return b""  # reading past the end, like a file
            raise

    def iter_chunks(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        response = with_retries(
            lambda: self.client.get_object(Bucket=self.bucket, Key=key), key=key
        )
        body = response["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def put(self, key: str, data: IO[bytes] | bytes, *, content_type: str = "") -> int:
        """Store ``data`` at ``key``. Transient failures (S3 restarting, 5xx, throttling, a
        connection cut) are retried like every other call when the data can be read again
        (bytes, a seekable stream) and raise :class:`TransientStorageError` otherwise, so the
        caller's task retries too: a thumbnail that S3 could not take for a moment must not
        fail its file for good."""
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        stream: IO[bytes] = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
        start = stream.tell() if stream.seekable() else None
        extra = {"ContentType": content_type} if content_type else None

        def upload() -> None:
            if start is not None:
                stream.seek(start)
            try:
                self.client.upload_fileobj(
                    stream,
                    self.bucket,
                    key,
                    ExtraArgs=extra,
                    Config=TransferConfig(multipart_chunksize=64 * 1024 * 1024),
                )
            except (ClientError, BotoCoreError):
                raise
            except Exception as exc:  # boto3's transfer manager wraps errors in several types
                cause = _botocore_cause(exc)
                if cause is not None:
                    raise cause from exc
                raise StorageError(f"could not store {key}: {exc}") from exc

        if start is not None:
            with_retries(upload, key=key)
        else:
            try:
                upload()
            except (ClientError, BotoCoreError) as exc:
                raise _classify(exc, key) from exc
        return self.size(key)

    def delete(self, key: str) -> None:
        with_retries(lambda: self.client.delete_object(Bucket=self.bucket, Key=key), key=key)

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key starting with ``prefix``, a page of 1,000 at a time (never all in memory)."""
        token: dict[str, str] = {}
        while True:
            page = with_retries(
                functools.partial(
                    self.client.list_objects_v2,
                    Bucket=self.bucket,
                    Prefix=prefix,
                    MaxKeys=1000,
                    **token,
                ),
                key=prefix,
            )
            for item in page.get("Contents", ()):
                yield item["Key"]
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def delete_keys(self, keys: Iterable[str]) -> int:
        """Delete ``keys`` in batches of 1,000 (one request each); returns how many went. A key
        the server refuses to delete raises :class:`StorageError` naming it."""
        deleted = 0
        for batch in _batches(keys, 1000):
            request = {"Objects": [{"Key": key} for key in batch], "Quiet": True}
            answer = with_retries(
                functools.partial(self.client.delete_objects, Bucket=self.bucket, Delete=request),
                key=batch[0],
            )
            if errors := answer.get("Errors"):
                first = errors[0]
                raise StorageError(
                    f"could not delete {len(errors)} objects, e.g. {first.get('Key')}: "
                    f"{first.get('Code')} {first.get('Message', '')}".strip()
                )
            deleted += len(batch)
        return deleted

    def copy(self, src_key: str, dst_key: str) -> int:
        """Server-side copy inside the bucket (multipart copy for large objects): the bytes
        never pass through this process. Returns the copy's size."""
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_threshold=1024**3, multipart_chunksize=512 * 1024**2)
        with_retries(
            lambda: self.client.copy(
                {"Bucket": self.bucket, "Key": src_key}, self.bucket, dst_key, Config=config
            ),
            key=src_key,
        )
        return self.size(dst_key)

    def presign_get(self, key: str, *, filename: str | None = None, expires: int = 0) -> str | None:
        return self._presign("get_object", key, filename, expires)

    def presign_head(
        self, key: str, *, filename: str | None = None, expires: int = 0
    ) -> str | None:
        """For HEAD requests: S3 signs the method, so a GET URL answers HEAD with 403."""
        return self._presign("head_object", key, filename, expires)

    def _presign(self, operation: str, key: str, filename: str | None, expires: int) -> str:
        params: dict[str, str] = {"Bucket": self.bucket, "Key": key}
        if filename:
            safe = filename.replace('"', "")
            params["ResponseContentDisposition"] = f'attachment; filename="{safe}"'
        return str(
            self.public_client.generate_presigned_url(
                operation, Params=params, ExpiresIn=expires or settings.OPENEM_PRESIGN_EXPIRY
            )
        )

    # -- multipart upload (browser and CLI upload straight to the bucket) --------------------

    def multipart_create(self, key: str, *, content_type: str = "") -> str:
        """A multipart upload whose every part carries its CRC32 (:data:`PART_CHECKSUM`): S3
        checks each part as it arrives and refuses one damaged on the way (``BadDigest``)."""
        kwargs = {"Bucket": self.bucket, "Key": key, "ChecksumAlgorithm": PART_CHECKSUM}
        if content_type:
            kwargs["ContentType"] = content_type
        response = with_retries(lambda: self.client.create_multipart_upload(**kwargs), key=key)
        return str(response["UploadId"])

    def multipart_presign_part(
        self, key: str, upload_id: str, part_number: int, crc32: str, *, expires: int = 0
    ) -> tuple[str, dict[str, str]]:
        """The URL to PUT part ``part_number`` to, and the headers to send with it: the part's
        CRC32 (base64) is a signed header, so S3 refuses the part unless its bytes match."""
        url = self.public_client.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "UploadId": upload_id,
                "PartNumber": part_number,
                "ChecksumCRC32": crc32,
            },
            ExpiresIn=expires or settings.OPENEM_PRESIGN_EXPIRY,
        )
        return str(url), {PART_CHECKSUM_HEADER: crc32}

    def multipart_list_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        marker = 0
        while True:
            response: dict[str, Any] = with_retries(
                functools.partial(
                    self.client.list_parts,
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumberMarker=marker,
                ),
                key=key,
            )
            parts.extend(
                {
                    "PartNumber": p["PartNumber"],
                    "ETag": p["ETag"],
                    "Size": p["Size"],
                    "ChecksumCRC32": p.get("ChecksumCRC32") or "",
                }
                for p in response.get("Parts", [])
            )
            if not response.get("IsTruncated"):
                return parts
            marker = response["NextPartNumberMarker"]

    def multipart_complete(self, key: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
        """Assemble ``parts`` (PartNumber, ETag and, where known, ChecksumCRC32)."""
        ordered = [
            {"PartNumber": int(p["PartNumber"]), "ETag": str(p["ETag"])}
            | ({"ChecksumCRC32": str(p["ChecksumCRC32"])} if p.get("ChecksumCRC32") else {})
            for p in sorted(parts, key=lambda p: int(p["PartNumber"]))
        ]
        with_retries(
            lambda: self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": ordered}
            ),
            key=key,
        )

    def multipart_list_uploads(self) -> Iterator[tuple[str, str, Any]]:
        """Every open multipart upload of the bucket: (key, upload id, initiated datetime)."""
        markers: dict[str, str] = {}
        while True:
            response: dict[str, Any] = with_retries(
                functools.partial(
                    self.client.list_multipart_uploads, Bucket=self.bucket, **markers
                ),
                key=self.bucket,
            )
            for upload in response.get("Uploads", []):
                yield upload["Key"], upload["UploadId"], upload.get("Initiated")
            if not response.get("IsTruncated"):
                return
            markers = {
                "KeyMarker": response.get("NextKeyMarker", ""),
                "UploadIdMarker": response.get("NextUploadIdMarker", ""),
            }

    def multipart_abort(self, key: str, upload_id: str) -> None:
        with_retries(
            lambda: self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id
            ),
            key=key,
        )
