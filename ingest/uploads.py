"""Upload workflows: sessions, batch registration, direct-to-S3 multipart and local chunks.

The web server is never in the data path on S3: it only issues presigned part URLs. On local
storage (the embedded default) a chunked endpoint writes parts at their offset, so the browser
and CLI get the same resumable experience. A file becomes ``stored`` only when its bytes are
complete and its size matches what was registered; then ingest is enqueued after commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import storage
from openem.errors import Conflict, NotAllowed, ValidationFailed
from repository import access
from repository.models import DataFile, Dataset, DatasetStatus, FileState
from repository.paths import sanitise_relative_path, split_path
from repository.services import datafile_storage_key

from .models import UploadSession, UploadSessionState

MAX_BATCH = 10_000
MAX_PARTS = 10_000  # the S3 limit


def _require_upload_right(actor: Any, dataset: Dataset) -> None:
    if not access.can_create_dataset(actor, dataset.facility):
        raise NotAllowed(
            f"you are not staff of {dataset.facility.name}, so you cannot upload there"
        )


@transaction.atomic
def upload_session_create(
    *, actor: Any, dataset: Dataset, acquiring: bool = False
) -> UploadSession:
    """Open a session to upload into ``dataset``; ``acquiring``: the microscope is still
    writing the session (``openem watch``), shown on the landing page until completion."""
    _require_upload_right(actor, dataset)
    from repository import versions

    if dataset.status == DatasetStatus.WITHDRAWN:
        raise Conflict("the dataset was withdrawn; its files can no longer change")
    if dataset.status == DatasetStatus.PUBLISHED:
        if (
            versions.version_draft(dataset) is None
            or not versions.versions_published(dataset).exists()
        ):
            raise Conflict(
                "the dataset is published; its files can no longer change (start a new "
                "version to add, remove or replace files)"
            )
        versions.version_draft_files_changed(dataset=dataset)
    return UploadSession.objects.create(dataset=dataset, created_by=actor, acquiring=acquiring)


def _require_open(session: UploadSession) -> None:
    if session.state != UploadSessionState.OPEN:
        raise Conflict(
            f"upload session {session.pk} is {session.state}; start a new one to add files"
        )


@transaction.atomic
def upload_session_register_files(
    *, actor: Any, session: UploadSession, entries: Sequence[Mapping[str, Any]]
) -> list[DataFile]:
    """Register up to 10,000 files at once (path, size, optional sha256): all or nothing.

    Every problem is reported with the entry's index, so a client can fix all of them at once.
    """
    _require_upload_right(actor, session.dataset)
    _require_open(session)
    if not entries:
        raise ValidationFailed("no files to register")
    if len(entries) > MAX_BATCH:
        raise ValidationFailed(f"at most {MAX_BATCH} files per request, got {len(entries)}")
    problems: list[dict[str, Any]] = []
    rows: list[DataFile] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        try:
            rows.append(_row(session, entry))
        except ValidationFailed as exc:
            problems.append(
                {"index": index, "path": str(entry.get("path", ""))[:200], "message": exc.message}
            )
            continue
        path = rows[-1].path
        if path in seen:
            problems.append(
                {"index": index, "path": path, "message": f"duplicate of entry {seen[path]}"}
            )
        seen.setdefault(path, index)
    existing = set(
        DataFile.objects.filter(dataset=session.dataset, path__in=list(seen)).values_list(
            "path", flat=True
        )
    )
    problems.extend(
        {
            "index": seen[path],
            "path": path,
            "message": "a file with this path is already in the dataset",
        }
        for path in sorted(existing)
    )
    if problems:
        problems.sort(key=lambda p: p["index"])
        raise ValidationFailed(
            f"{len(problems)} of {len(entries)} files cannot be registered", details=problems
        )
    DataFile.objects.bulk_create(rows, batch_size=2000)
    if session.dataset.status == DatasetStatus.READY:
        Dataset.objects.filter(pk=session.dataset_id).update(status=DatasetStatus.INGESTING)
    return rows


def _row(session: UploadSession, entry: Mapping[str, Any]) -> DataFile:
    clean = sanitise_relative_path(entry.get("path", ""))
    size = entry.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValidationFailed(f"{clean}: size must be a whole number of bytes >= 0")
    expected = str(entry.get("sha256") or "").lower()
    if expected and not _is_sha256(expected):
        raise ValidationFailed(f"{clean}: sha256 must be 64 hexadecimal characters")
    directory, name = split_path(clean)
    return DataFile(
        dataset=session.dataset,
        upload_session=session,
        path=clean,
        directory=directory,
        name=name,
        size=size,
        storage_key=datafile_storage_key(session.dataset),
        expected_sha256=expected,
        state=FileState.REGISTERED,
    )


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _declared_sha256(datafile: DataFile, sha256: str) -> str:
    """The SHA-256 a client declares when its upload completes (it may hash while it sends),
    checked: well formed, and the same as any declared at registration. Ingest verifies the
    stored bytes against it."""
    declared = sha256.strip().lower()
    if not declared:
        return ""
    if not _is_sha256(declared):
        raise ValidationFailed(f"{datafile.path}: sha256 must be 64 hexadecimal characters")
    if datafile.expected_sha256 and datafile.expected_sha256 != declared:
        raise ValidationFailed(
            f"{datafile.path}: sha256 {declared} differs from the one registered "
            f"({datafile.expected_sha256}); the local file changed since it was registered?",
            details={"registered": datafile.expected_sha256, "declared": declared},
        )
    return declared


def _uploadable(actor: Any, datafile: DataFile) -> None:
    _require_upload_right(actor, datafile.dataset)
    if datafile.state != FileState.REGISTERED:
        raise Conflict(f"{datafile.path} is already uploaded ({datafile.state})")
    if datafile.upload_session and datafile.upload_session.state != UploadSessionState.OPEN:
        raise Conflict(f"the upload session of {datafile.path} is {datafile.upload_session.state}")


def part_size_for(size: int) -> int:
    """The configured part size, grown so that no file needs more than 10,000 parts."""
    part = settings.OPENEM_UPLOAD_PART_SIZE
    while size > part * MAX_PARTS:
        part *= 2
    return part


def part_count_for(size: int) -> int:
    """How many parts a file of ``size`` bytes is sent in (one, even when empty)."""
    return max(1, -(-size // part_size_for(size)))


# --- S3 multipart -------------------------------------------------------------------------------------


def _s3() -> storage.S3Store:
    store = storage.get_store()
    if not isinstance(store, storage.S3Store):
        raise Conflict("this portal stores files locally: use the chunked upload endpoint")
    return store


def upload_multipart_start(*, actor: Any, datafile: DataFile) -> dict[str, Any]:
    """Create (or resume) the multipart upload of a registered file."""
    _uploadable(actor, datafile)
    store = _s3()
    if not datafile.upload_id:
        upload_id = store.multipart_create(datafile.storage_key)
        updated = DataFile.objects.filter(pk=datafile.pk, upload_id="").update(
            upload_id=upload_id, part_crc32s={}
        )
        if not updated:  # a parallel client started it first: use theirs, drop ours
            store.multipart_abort(datafile.storage_key, upload_id)
        datafile.refresh_from_db(fields=["upload_id"])
    return {
        "upload_id": datafile.upload_id,
        "part_size": part_size_for(datafile.size),
        "part_count": part_count_for(datafile.size),
    }


def _check_upload_id(datafile: DataFile, upload_id: str) -> None:
    if not datafile.upload_id or datafile.upload_id != upload_id:
        raise ValidationFailed(f"{datafile.path}: unknown upload id; start the upload again")


def upload_multipart_sign_parts(
    *, actor: Any, datafile: DataFile, upload_id: str, parts: Mapping[int, str]
) -> dict[int, tuple[str, dict[str, str]]]:
    """Presigned PUT URLs (and the headers to send) of ``parts``: part number -> its CRC32
    (base64), which S3 checks the part's bytes against."""
    _uploadable(actor, datafile)
    _check_upload_id(datafile, upload_id)
    numbers = sorted(parts)
    if not numbers or numbers[0] < 1 or numbers[-1] > MAX_PARTS or len(numbers) > 1000:
        raise ValidationFailed("part numbers must be between 1 and 10000, at most 1000 per request")
    part_count = part_count_for(datafile.size)
    if numbers[-1] > part_count:
        raise ValidationFailed(
            f"{datafile.path} has {part_count} part{'s' if part_count > 1 else ''} of "
            f"{part_size_for(datafile.size):,} bytes: there is no part {numbers[-1]}"
        )
    store = _s3()
    signed = {
        n: store.multipart_presign_part(datafile.storage_key, upload_id, n, parts[n])
        for n in numbers
    }
    _record_part_crc32s(datafile, upload_id, {n: parts[n] for n in numbers})
    return signed


def _record_part_crc32s(datafile: DataFile, upload_id: str, crc32s: Mapping[int, str]) -> None:
    """Keep the CRC32 each part was signed with (S3 checked the part against it), for the
    completion and the resuming client: not every S3 server lists part checksums.

    One UPDATE merging the new values in (JSON concatenation), so parallel sign requests of one
    file neither lose each other's values nor hold a lock (SQLite refuses a read-then-write
    transaction's upgrade while another writes: "database is locked")."""
    import json

    from django.db import connection

    table = DataFile._meta.db_table
    merge = (
        "part_crc32s || %s::jsonb"
        if connection.vendor == "postgresql"
        else "json_patch(part_crc32s, %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET part_crc32s = {merge} WHERE id = %s AND upload_id = %s",  # noqa: S608 - fixed names
            [json.dumps({str(n): crc for n, crc in crc32s.items()}), datafile.pk, upload_id],
        )


def _listed_parts(
    store: storage.S3Store, datafile: DataFile, upload_id: str
) -> list[dict[str, Any]]:
    """S3's list of the uploaded parts, each with its CRC32 (S3's, else the signed one)."""
    signed = DataFile.objects.values_list("part_crc32s", flat=True).get(pk=datafile.pk) or {}
    return [
        p | {"ChecksumCRC32": p.get("ChecksumCRC32") or signed.get(str(p["PartNumber"]), "")}
        for p in store.multipart_list_parts(datafile.storage_key, upload_id)
    ]


def upload_multipart_list_parts(
    *, actor: Any, datafile: DataFile, upload_id: str
) -> list[dict[str, Any]]:
    _uploadable(actor, datafile)
    _check_upload_id(datafile, upload_id)
    return _listed_parts(_s3(), datafile, upload_id)


def upload_multipart_complete(
    *,
    actor: Any,
    datafile: DataFile,
    upload_id: str,
    parts: Sequence[Mapping[str, Any]] | None = None,
    sha256: str = "",
) -> DataFile:
    """Assemble the parts (the server's own list when the client sends none) and store the
    file; ``sha256`` is the client's checksum of the whole file if it was not registered with
    one (ingest verifies it)."""
    _uploadable(actor, datafile)
    _check_upload_id(datafile, upload_id)
    declared = _declared_sha256(datafile, sha256)
    store = _s3()
    listed = _listed_parts(store, datafile, upload_id)
    uploaded = sum(int(p["Size"]) for p in listed)
    if uploaded != datafile.size:
        raise ValidationFailed(
            f"{datafile.path}: {uploaded} of {datafile.size} bytes uploaded; upload the missing parts first",
            details={"uploaded_bytes": uploaded, "expected_bytes": datafile.size},
        )
    store.multipart_complete(datafile.storage_key, upload_id, _with_checksums(parts, listed))
    return _mark_stored(datafile, declared_sha256=declared)


def _with_checksums(
    parts: Sequence[Mapping[str, Any]] | None, listed: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The client's parts (or, without them, S3's list), each with its CRC32: the client's, or
    the one S3 lists for the part (S3 wants every part's checksum back at completion)."""
    if not parts:
        return listed
    listed_checksums = {int(p["PartNumber"]): p.get("ChecksumCRC32") for p in listed}
    return [
        dict(p)
        | {"ChecksumCRC32": p.get("ChecksumCRC32") or listed_checksums.get(int(p["PartNumber"]))}
        for p in parts
    ]


def upload_multipart_abort(*, actor: Any, datafile: DataFile, upload_id: str) -> None:
    _uploadable(actor, datafile)
    _check_upload_id(datafile, upload_id)
    _s3().multipart_abort(datafile.storage_key, upload_id)
    DataFile.objects.filter(pk=datafile.pk).update(upload_id="", part_crc32s={})


# --- Local chunked upload ------------------------------------------------------------------------------


def _local() -> storage.LocalStore:
    store = storage.get_store()
    if not isinstance(store, storage.LocalStore):
        raise Conflict("this portal stores files in S3: use the multipart upload endpoints")
    return store


def upload_local_offset(*, actor: Any, datafile: DataFile) -> int:
    """How many bytes of the file are already received (where a resumed upload continues)."""
    _uploadable(actor, datafile)
    return _local().partial_size(datafile.storage_key)


def upload_local_chunk(
    *,
    actor: Any,
    datafile: DataFile,
    offset: int,
    stream: IO[bytes],
    length: int,
    sha256: str = "",
) -> int:
    """Append one chunk at ``offset`` (must equal the bytes received so far); returns the new
    offset. ``sha256`` (the whole file's, if not registered with one) counts when the chunk
    completes the file."""
    _uploadable(actor, datafile)
    declared = _declared_sha256(datafile, sha256)
    store = _local()
    received = store.partial_size(datafile.storage_key)
    if offset != received:
        raise Conflict(
            f"{datafile.path}: expected a chunk at offset {received}, got {offset}",
            details={"offset": received},
        )
    if offset + length > datafile.size:
        raise ValidationFailed(
            f"{datafile.path}: the chunk goes past the registered size of {datafile.size} bytes"
        )
    new_offset = store.partial_append(datafile.storage_key, stream, length)
    if new_offset == datafile.size:
        store.partial_commit(datafile.storage_key)
        _mark_stored(datafile, declared_sha256=declared)
    return new_offset


# --- Completion -----------------------------------------------------------------------------------------


def _mark_stored(datafile: DataFile, *, declared_sha256: str = "") -> DataFile:
    from .tasks import process_file

    declared = {"expected_sha256": declared_sha256} if declared_sha256 else {}
    with transaction.atomic():
        updated = DataFile.objects.filter(pk=datafile.pk, state=FileState.REGISTERED).update(
            state=FileState.STORED,
            upload_id="",
            part_crc32s={},
            modified=timezone.now(),
            **declared,
        )
        if updated:
            Dataset.objects.filter(
                pk=datafile.dataset_id, status__in=[DatasetStatus.DRAFT, DatasetStatus.READY]
            ).update(status=DatasetStatus.INGESTING)
            # robust: a broker that is down must not fail an upload whose bytes are stored
            # (the file stays ``stored``; the reconciler enqueues it).
            transaction.on_commit(lambda: process_file.delay(datafile.pk), robust=True)
    datafile.refresh_from_db()
    return datafile


def datafile_store_stream(
    *, actor: Any, session: UploadSession, path: str, stream: IO[bytes], size: int
) -> DataFile:
    """Server-side add (demo data, imports from a mounted folder): register, store, enqueue."""
    [datafile] = upload_session_register_files(
        actor=actor, session=session, entries=[{"path": path, "size": size}]
    )
    stored = storage.get_store().put(datafile.storage_key, stream)
    if stored != size:
        storage.get_store().delete(datafile.storage_key)
        DataFile.objects.filter(pk=datafile.pk).delete()
        raise ValidationFailed(f"{path}: {stored} bytes arrived, {size} were announced")
    return _mark_stored(datafile)


@transaction.atomic
def upload_session_complete(*, actor: Any, session: UploadSession) -> dict[str, int]:
    """Close the session; files still only registered are reported as missing. Closing an
    acquiring session (``openem watch``) aggregates the dataset's metadata once more."""
    _require_upload_right(actor, session.dataset)
    _require_open(session)
    missing = session.files.filter(state=FileState.REGISTERED).count()
    session.state = UploadSessionState.COMPLETED
    session.completed_at = timezone.now()
    session.save(update_fields=["state", "completed_at"])
    if session.acquiring:
        # The acquisition is over: aggregate once more now that nothing will be added (the
        # file that settled last did so while the session was still open).
        from .tasks import settle_dataset

        dataset_id = session.dataset_id
        transaction.on_commit(lambda: settle_dataset.delay(dataset_id))
    return {"missing_files": missing, "files": session.files.count()}


# --- Stale multipart uploads ---------------------------------------------------------------------


def abort_stale_multipart_uploads(
    *,
    abandoned_after: dt.timedelta = dt.timedelta(days=7),
    orphaned_after: dt.timedelta = dt.timedelta(hours=1),
) -> dict[str, int]:
    """Abort the bucket's multipart uploads that nobody will complete (their parts cost space
    and S3 never drops them itself): ``orphaned`` ones no file names (a start that lost a race,
    a crash between create and save) once ``orphaned_after`` old, and ``abandoned`` ones a file
    still names but nobody continued for ``abandoned_after`` (that file starts over)."""
    store = storage.get_store()
    if not isinstance(store, storage.S3Store):
        return {"orphaned": 0, "abandoned": 0, "kept": 0}
    now = timezone.now()
    counts = {"orphaned": 0, "abandoned": 0, "kept": 0}
    for key, upload_id, initiated in store.multipart_list_uploads():
        age = now - initiated if initiated else dt.timedelta.max
        named = DataFile.objects.filter(upload_id=upload_id, storage_key=key)
        if not named.exists():
            if age < orphaned_after:
                counts["kept"] += 1
                continue
            store.multipart_abort(key, upload_id)
            counts["orphaned"] += 1
        elif age >= abandoned_after:
            store.multipart_abort(key, upload_id)
            named.update(upload_id="", part_crc32s={})
            counts["abandoned"] += 1
        else:
            counts["kept"] += 1
    return counts
