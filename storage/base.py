"""The storage interface: errors, object keys, the store and byte-source protocols.

Every store (:mod:`storage.local`, :mod:`storage.s3`) implements :class:`ObjectStore`; format
readers and checksums read through :class:`ByteSource`. Nothing here imports Django or an app.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Protocol, TypeVar

DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
# Multipart uploads check every part: the client computes its CRC32 (base64 of the 4 bytes, big
# endian, as S3 writes it), the presigned URL signs it as a header, S3 compares on arrival.
PART_CHECKSUM = "CRC32"
PART_CHECKSUM_HEADER = "x-amz-checksum-crc32"
T = TypeVar("T")


class StorageError(Exception):
    """A storage operation failed; ``str()`` is safe to show to a user.

    The ``api_*`` attributes are what the API's exception handler answers (it knows them
    through :class:`openem.api.exceptions.MappedError`, so storage imports nothing above it).
    """

    api_status = 503
    api_code = "storage_unavailable"
    api_message = "the file storage is not available; try again soon"
    api_log_level = "warning"


class ObjectNotFound(StorageError):
    """The object does not exist (permanent: never retried)."""

    api_status = 500
    api_code = "storage_object_missing"
    api_message = "the file's data is missing from storage; the facility has been notified"
    api_log_level = "error"


class AccessDenied(StorageError):
    """The storage refused access (permanent: never retried)."""


class TransientStorageError(StorageError):
    """Timeouts, 5xx and throttling, still failing after the retries."""


def object_key(*parts: str | int) -> str:
    """Build an object key from ids (never from user-supplied names)."""
    cleaned = []
    for part in parts:
        text = str(part)
        if not text or "/" in text or text in {".", ".."} or not text.isprintable():
            raise ValueError(f"invalid key component {text!r}")
        cleaned.append(text)
    return "/".join(cleaned)


class ByteSource(Protocol):
    """What the format readers need: a size and ranged reads. Counted for benchmarks."""

    size: int

    def read_at(self, offset: int, length: int) -> bytes: ...


@dataclass
class ReadStats:
    requests: int = 0
    bytes_read: int = 0


class ObjectStore(Protocol):
    name: str

    def size(self, key: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def read(self, key: str, offset: int, length: int) -> bytes: ...
    def iter_chunks(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]: ...
    def put(self, key: str, data: IO[bytes] | bytes, *, content_type: str = ...) -> int: ...
    def delete(self, key: str) -> None: ...
    def list_keys(self, prefix: str) -> Iterator[str]: ...
    def delete_keys(self, keys: Iterable[str]) -> int: ...
    def copy(self, src_key: str, dst_key: str) -> int: ...
    def presign_get(
        self, key: str, *, filename: str | None = None, expires: int = ...
    ) -> str | None: ...
    def presign_head(
        self, key: str, *, filename: str | None = None, expires: int = ...
    ) -> str | None: ...


def presign_for(
    store: ObjectStore, method: str, key: str, *, filename: str | None = None, expires: int = 0
) -> str | None:
    """A URL for ``key`` presigned for the request's ``method`` (None on local storage). S3
    signs the method: a HEAD (size, ETag) sent to a URL signed for GET gets 403."""
    presign = store.presign_head if method == "HEAD" else store.presign_get
    return presign(key, filename=filename, expires=expires)
