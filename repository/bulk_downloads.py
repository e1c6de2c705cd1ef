"""Whole-dataset and folder downloads: what they hold (files, bytes, whether a ZIP is
allowed, under ``OPENEM_ZIP_MAX_BYTES``), the streamed ZIP (no temporary file), the URL list
for ``wget``/``curl`` (presigned, with expiry) and the signed single-file tokens of local
storage.

Callers check access first (``repository.access``); nothing here decides who may see what."""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.db.models import Count, Q, Sum
from django.utils import timezone

import storage

from .citation import SITE_NAME
from .models import DataFile, Dataset, FileState
from .paths import starts_with
from .selectors import all_directories, file_summary

DOWNLOADABLE_STATES = (FileState.STORED, FileState.PROCESSING, FileState.READY, FileState.FAILED)
SIGNED_DOWNLOAD_SALT = "openem.repository.signed-download"
ZIP_CHUNK = 1024 * 1024
#: A browser ZIP of more files than this is refused in favour of the manifest, URL list or CLI.
ZIP_MAX_FILES = 10_000


def folder_q(dataset: Dataset, directory: str) -> Q:
    """Files of ``directory`` and of the folders below it. The folders are listed by name
    from the skip scan, so the (dataset, directory, name) index finds their files whatever
    the database's collation (a prefix LIKE could not use it)."""
    directories, truncated = all_directories(dataset)
    if truncated:
        return Q(directory=directory) | starts_with("directory", directory + "/")
    prefix = directory + "/"
    return Q(directory__in=[d for d in directories if d == directory or d.startswith(prefix)])


def bulk_files(dataset: Dataset, *, directory: str = "") -> Any:
    """The downloadable files of the dataset or of one folder (and below), in path order."""
    files = DataFile.objects.filter(dataset=dataset, state__in=DOWNLOADABLE_STATES)
    if directory:
        files = files.filter(folder_q(dataset, directory))
    return files.order_by("path")


@dataclass(frozen=True)
class BulkSize:
    files: int
    bytes: int
    zip_limit: int
    capped: bool = False  # more files than a ZIP may hold: the figures are a lower bound

    @property
    def zip_allowed(self) -> bool:
        return not self.capped and self.files > 0 and 0 < self.bytes <= self.zip_limit

    @property
    def zip_max_files(self) -> int:
        return ZIP_MAX_FILES


def bulk_size(dataset: Dataset, *, directory: str = "") -> BulkSize:
    """Files and bytes a whole-dataset or folder download would hold. A folder is counted
    up to ``ZIP_MAX_FILES + 1`` files only, so that its page stays cheap whatever its size."""
    limit = settings.OPENEM_ZIP_MAX_BYTES
    if not directory:
        summary = file_summary(dataset)
        files, size = summary.downloadable_files, summary.downloadable_bytes
        return BulkSize(files, size, limit, capped=files > ZIP_MAX_FILES)
    folder = DataFile.objects.filter(dataset=dataset).filter(folder_q(dataset, directory))
    # Counted on the browse index alone (no row is read) up to one file past the limit.
    counted = folder.order_by().values("name")[: ZIP_MAX_FILES + 1].count()
    if counted > ZIP_MAX_FILES:
        return BulkSize(counted, 0, limit, capped=True)
    totals = folder.filter(state__in=DOWNLOADABLE_STATES).aggregate(
        files=Count("pk"), bytes=Sum("size")
    )
    return BulkSize(totals["files"] or 0, totals["bytes"] or 0, limit)


class _Sink:
    """A write-only stream for ``zipfile``: it collects what the archive writes, and the
    generator hands it on; being unseekable makes zipfile write data descriptors."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        return None

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def zip_stream(files: Iterable[DataFile], *, root: str = "") -> Iterator[bytes]:
    """A ZIP of ``files`` (stored, not compressed: EM data does not compress) as a stream of
    blocks; memory stays at one block whatever the size, and nothing touches the disk.
    Paths inside the archive are relative to ``root``."""
    store = storage.get_store()
    sink = _Sink()
    prefix = f"{root}/" if root else ""
    with zipfile.ZipFile(
        sink,  # type: ignore[call-overload]  # a write-only stream is all zipfile needs here
        mode="w",
        compression=zipfile.ZIP_STORED,
        allowZip64=True,
    ) as archive:
        for datafile in files:
            name = (
                datafile.path[len(prefix) :]
                if prefix and datafile.path.startswith(prefix)
                else datafile.path
            )
            info = zipfile.ZipInfo(name, date_time=_zip_time(datafile.created))
            info.compress_type = zipfile.ZIP_STORED
            info.file_size = datafile.size
            with archive.open(
                info, mode="w", force_zip64=datafile.size >= zipfile.ZIP64_LIMIT
            ) as entry:
                for chunk in store.iter_chunks(datafile.storage_key, ZIP_CHUNK):
                    entry.write(chunk)
                    if len(sink.buffer) >= ZIP_CHUNK:
                        yield sink.take()
            if sink.buffer:
                yield sink.take()
    if sink.buffer:
        yield sink.take()


def _zip_time(moment: dt.datetime) -> tuple[int, int, int, int, int, int]:
    local = timezone.localtime(moment)
    year = min(max(local.year, 1980), 2107)
    return (year, local.month, local.day, local.hour, local.minute, local.second)


def signed_download_token(*, datafile: DataFile, user: Any) -> str:
    """A bearer token for one file and one user (for local storage, where there are no
    presigned URLs); :func:`signed_download_open` checks its age and the user's access again."""
    user_id = user.pk if getattr(user, "is_authenticated", False) else None
    return signing.dumps(
        {"f": datafile.pk, "u": user_id}, salt=SIGNED_DOWNLOAD_SALT, compress=False
    )


def signed_download_open(token: str) -> tuple[int, int | None] | None:
    """(file id, user id or None) of a valid, unexpired token; None otherwise."""
    try:
        payload = signing.loads(
            token, salt=SIGNED_DOWNLOAD_SALT, max_age=settings.OPENEM_PRESIGN_EXPIRY
        )
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("f"), int):
        return None
    user_id = payload.get("u")
    return payload["f"], user_id if isinstance(user_id, int) else None


@dataclass(frozen=True)
class UrlListFormat:
    name: str
    filename_suffix: str
    help: str


URL_LIST_FORMATS = {
    "wget": UrlListFormat("wget", "urls.txt", "wget --content-disposition -i {file}"),
    "curl": UrlListFormat("curl", "curl.txt", "curl --parallel --create-dirs -K {file}"),
}


def url_list_stream(
    files: Iterable[DataFile],
    *,
    url_for: Any,
    list_format: str,
    expires_at: dt.datetime,
    root: str = "",
) -> Iterator[bytes]:
    """One URL per file (``wget -i``), or a curl config that also keeps the folder layout.

    ``url_for(datafile)`` gives the presigned (S3) or signed (local) URL; they expire at
    ``expires_at``, which the curl config states in a comment (wget lists cannot hold one).
    """
    prefix = f"{root}/" if root else ""
    buffer: list[str] = []
    if list_format == "curl":
        buffer.append(
            f"# {SITE_NAME}: presigned download links, valid until {expires_at:%Y-%m-%d %H:%M} UTC.\n"
            "# Run: curl --parallel --create-dirs -K this-file\n"
        )
    for datafile in files:
        url = url_for(datafile)
        if list_format == "curl":
            relative = datafile.path[len(prefix) :] if prefix else datafile.path
            buffer.append(f'url = "{_curl_quote(url)}"\noutput = "{_curl_quote(relative)}"\n')
        else:
            buffer.append(url + "\n")
        if len(buffer) >= 500:
            yield "".join(buffer).encode()
            buffer.clear()
    if buffer:
        yield "".join(buffer).encode()


def _curl_quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
