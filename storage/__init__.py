"""Object storage, the bottom layer: it imports no app and no model.

Two implementations of one small interface (:class:`~storage.base.ObjectStore`): the local
filesystem (:mod:`storage.local`, the embedded default) and S3-compatible object storage
(:mod:`storage.s3`). Readers never download a whole object: they use ``read(key, offset,
length)`` (an S3 ranged GET), ``iter_chunks`` (one streaming GET), or the byte sources of
:mod:`storage.sources`. Object keys are built by :func:`~storage.base.object_key` from ids
only, never from user-supplied names. :func:`get_store` is the store the settings name.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlparse

from django.conf import settings

from storage.base import (
    DEFAULT_CHUNK_SIZE,
    PART_CHECKSUM,
    PART_CHECKSUM_HEADER,
    AccessDenied,
    ByteSource,
    ObjectNotFound,
    ObjectStore,
    ReadStats,
    StorageError,
    TransientStorageError,
    object_key,
    presign_for,
)
from storage.local import LocalStore
from storage.s3 import S3Store, with_retries
from storage.sources import (
    BytesSource,
    CachedSource,
    FileSource,
    ObjectSource,
    RangedFile,
    open_ranged,
    ranged_file,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "PART_CHECKSUM",
    "PART_CHECKSUM_HEADER",
    "AccessDenied",
    "ByteSource",
    "BytesSource",
    "CachedSource",
    "FileSource",
    "LocalStore",
    "ObjectNotFound",
    "ObjectSource",
    "ObjectStore",
    "RangedFile",
    "ReadStats",
    "S3Store",
    "StorageError",
    "TransientStorageError",
    "browser_origins",
    "get_store",
    "object_key",
    "open_ranged",
    "presign_for",
    "ranged_file",
    "reset_store_cache",
    "with_retries",
]


@lru_cache(maxsize=1)
def get_store() -> ObjectStore:
    """The store named by settings (``OPENEM_STORAGE['backend']``)."""
    config = settings.OPENEM_STORAGE
    if config["backend"] == "s3":
        return S3Store(
            bucket=config["bucket"],
            endpoint_url=config["endpoint_url"],
            access_key=config["access_key"],
            secret_key=config["secret_key"],
            region=config["region"],
            public_endpoint_url=config.get("public_endpoint_url"),
            addressing_style=config.get("addressing_style", "path"),
        )
    return LocalStore(config["root"])


def reset_store_cache() -> None:
    """Forget the configured store (tests that switch settings call this)."""
    get_store.cache_clear()


def browser_origins() -> list[str]:
    """The origins browsers fetch objects from (presigned GETs, thumbnails, multipart PUTs):
    the Content-Security-Policy lets pages reach them. Empty for local storage, whose objects
    the portal serves itself."""
    config = settings.OPENEM_STORAGE
    if config["backend"] != "s3":
        return []
    url = config.get("public_endpoint_url") or config.get("endpoint_url")
    if not url:  # AWS: the bucket's regional, virtual-host or path-style names
        return ["https://*.amazonaws.com"]
    parsed = urlparse(url)
    return [f"{parsed.scheme}://{parsed.netloc}"]
