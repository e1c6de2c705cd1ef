"""Serving a stored file to a client: a redirect to a presigned URL (S3), or a streamed response
with HTTP Range support (local storage, or any store without presigned URLs).

Shared by the API and the HTML pages. Callers check access first (``access.can(user,
Action.DOWNLOAD, dataset)``) and then call :func:`datafile_response`, which also records the
download in the audit trail when the files are not public (:func:`download_record`).

Only single byte ranges are served (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``); a request for
several ranges gets the whole file, which RFC 9110 allows. Files are always sent as
``application/octet-stream`` attachments: uploaded content is never rendered by the browser on
the portal's origin.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header

from openem.errors import Conflict
from storage import ObjectStore, get_store, presign_for

from . import access, services, signals
from .models import AuditAction, AuditEvent, DataFile, Dataset, FileState, VersionFile

STREAM_CHUNK_SIZE = 1024 * 1024
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
DOWNLOADABLE_STATES = {FileState.STORED, FileState.PROCESSING, FileState.READY, FileState.FAILED}


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range ``start``..``end`` of an object of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


class RangeNotSatisfiable(Exception):
    """The requested range lies outside the object (HTTP 416)."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single range asked for by a ``Range`` header, or None to send the whole object.

    Syntactically invalid headers and multi-range requests are ignored (whole object), as
    RFC 9110 allows; a well-formed range that starts past the end raises RangeNotSatisfiable.
    """
    if not header:
        return None
    match = _RANGE_RE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":  # suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(0, size - suffix), size - 1, size)
    start = int(first)
    if last != "" and int(last) < start:
        return None  # invalid: ignore
    if start >= size:
        raise RangeNotSatisfiable
    end = size - 1 if last == "" else min(int(last), size - 1)
    return ByteRange(start, end, size)


def _iter_range(store: ObjectStore, key: str, byte_range: ByteRange) -> Iterator[bytes]:
    position, remaining = byte_range.start, byte_range.length
    while remaining > 0:
        chunk = store.read(key, position, min(STREAM_CHUNK_SIZE, remaining))
        if not chunk:
            return  # the object shrank under us: stop rather than loop
        position += len(chunk)
        remaining -= len(chunk)
        yield chunk


def stream_object(
    request: HttpRequest,
    *,
    store: ObjectStore,
    key: str,
    filename: str,
    etag: str | None = None,
) -> HttpResponseBase:
    """Stream one stored object with Range support (200, 206, or 416).

    ``etag`` (e.g. the file's SHA-256) makes ``If-Range`` work: a client resuming a download
    whose file has changed gets the whole new file instead of a mixed one.
    """
    size = store.size(key)  # also raises ObjectNotFound before any byte is sent
    quoted_etag = f'"{etag}"' if etag else None
    range_header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if range_header and if_range is not None and if_range.strip() != quoted_etag:
        range_header = None  # the client's copy is of another version: send it all
    try:
        byte_range = parse_range(range_header, size)
    except RangeNotSatisfiable:
        refusal = HttpResponse(status=416)
        refusal["Content-Range"] = f"bytes */{size}"
        refusal["Accept-Ranges"] = "bytes"
        return refusal
    response: HttpResponseBase
    if request.method == "HEAD":
        response = HttpResponse(status=206 if byte_range else 200)
    elif byte_range is not None:
        response = StreamingHttpResponse(_iter_range(store, key, byte_range), status=206)
    else:
        response = StreamingHttpResponse(store.iter_chunks(key, STREAM_CHUNK_SIZE))
    response["Content-Type"] = "application/octet-stream"
    response["Content-Length"] = str(byte_range.length if byte_range else size)
    if byte_range is not None:
        response["Content-Range"] = byte_range.content_range
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    if quoted_etag:
        response["ETag"] = quoted_etag
    return response


def download_is_first_request(request: HttpRequest) -> bool:
    """Whether this request starts a download (no Range, or a range from byte 0): a parallel
    or resumed download is audited once, not once per chunk."""
    if request.method != "GET":
        return False
    header = (request.headers.get("Range") or "").replace(" ", "")
    match = _RANGE_RE.match(header)
    return match is None or match.group(1) in ("0", "")


def download_record(*, user: Any, datafile: DataFile, byte_range: str = "") -> AuditEvent | None:
    """Record a download of a non-public file in the audit trail (public files: nothing)."""
    dataset = datafile.dataset
    if not access.download_is_audited(dataset):
        return None
    details: dict[str, Any] = {"path": datafile.path, "size": datafile.size}
    if byte_range:
        details["range"] = byte_range[:100]
    return services.audit_record(
        actor=user,
        action=AuditAction.DOWNLOAD,
        target=datafile,
        dataset=dataset,
        details=details,
    )


def datafile_response(request: HttpRequest, *, datafile: DataFile) -> HttpResponseBase:
    """The response that downloads ``datafile``. The caller has checked access.

    Raises Conflict for a file whose bytes are not stored yet, and the storage errors of
    ``storage`` (ObjectNotFound, StorageError) for the caller's error handler.
    """
    if datafile.state not in DOWNLOADABLE_STATES:
        raise Conflict(f"{datafile.path} has not been uploaded yet; try again once it is stored")
    if download_is_first_request(request):
        download_record(
            user=request.user, datafile=datafile, byte_range=request.headers.get("Range", "")
        )
        signals.file_download_started.send(sender=DataFile, request=request, datafile=datafile)
    store = get_store()
    presigned = presign_for(
        store, request.method or "GET", datafile.storage_key, filename=datafile.name
    )
    if presigned:
        return HttpResponseRedirect(presigned)
    return stream_object(
        request,
        store=store,
        key=datafile.storage_key,
        filename=datafile.name,
        etag=datafile.checksum_sha256 or None,
    )


def version_file_response(
    request: HttpRequest, *, version_file: VersionFile, dataset: Dataset
) -> HttpResponseBase:
    """The response that downloads one frozen file of a version (its bytes are the object the
    working copy had when the version was published). The caller has checked access
    (``access.can_list_version_files``)."""
    if download_is_first_request(request) and access.download_is_audited(dataset):
        services.audit_record(
            actor=request.user,
            action=AuditAction.DOWNLOAD,
            target=version_file,
            dataset=dataset,
            details={
                "path": version_file.path,
                "size": version_file.size,
                "version": version_file.version.number,
            },
        )
    store = get_store()
    presigned = presign_for(
        store, request.method or "GET", version_file.storage_key, filename=version_file.name
    )
    if presigned:
        return HttpResponseRedirect(presigned)
    return stream_object(
        request,
        store=store,
        key=version_file.storage_key,
        filename=version_file.name,
        etag=version_file.checksum_sha256 or None,
    )
