"""Ingest workflows: make every stored file verifiable and described, then the dataset.

A file moves ``stored -> processing -> ready | failed(reason)``. A worker claims a file with a
conditional UPDATE, so a second delivery of the same task does nothing; transient storage
errors put the file back to ``stored`` and are retried by the task; everything else ends in a
per-file state with a message a person can act on. Stored bytes are never modified.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.mail import mail_admins
from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

import storage
from metadata.services import with_si_for_technique
from openem.errors import NotFound
from repository.audit import audit_record
from repository.dataset_metadata import dataset_validate_metadata
from repository.models import AuditAction, DataFile, Dataset, DatasetStatus, FileState
from storage import ObjectNotFound, ObjectSource, StorageError, TransientStorageError

from .aggregate import SIDECAR_SOURCES, aggregate_sidecars
from .checksum import Digests, hash_stream
from .formats import WHOLE_FILE_BYTES, extract
from .formats.base import FileFormat
from .image_headers import image_header_document
from .thumbnails import render_thumbnail

logger = logging.getLogger(__name__)

UNSETTLED_STATES = (FileState.REGISTERED, FileState.STORED, FileState.PROCESSING)
#: Repository techniques -> OSC-EM schema techniques (tomography without more detail is
#: treated as cellular tomography, the closest OSC-EM shape).
OSCEM_TECHNIQUE = {
    "spa": "spa",
    "subtomo": "subtomo",
    "cellular_tomo": "cellular_tomo",
    "env_tomo": "env_tomo",
    "tomography": "cellular_tomo",
}


class Outcome:
    SKIPPED = "skipped"  # not claimed: another delivery has it or had it
    READY = "ready"
    FAILED = "failed"


def thumbnail_key(datafile: DataFile) -> str:
    # A file claimed by _claim carries its dataset's PID (no second query for it).
    pid = getattr(datafile, "dataset_pid", None) or datafile.dataset.pid
    return storage.object_key("datasets", pid, "thumbnails", f"{datafile.pk}.png")


@contextlib.contextmanager
def _recomputable_writes() -> Iterator[None]:
    """Within this block, this connection's commits (on PostgreSQL) do not wait for the disk
    flush, which would otherwise cost a disk sync (1-4 ms) per file; they are visible to
    everyone as soon as they commit, as usual.

    Only a file's claim and outcome are written this way: everything in them can be recomputed
    from the stored bytes. A database crash can lose the last fraction of a second of them: a
    lost claim leaves the file ``stored``, a lost outcome leaves it ``processing``, and the
    reconciler hands both back to the queue. The dataset's settle step runs after the block and
    commits durably; the WAL is ordered, so that also flushes every outcome written before it.
    One SET and one RESET per file: cheaper than a transaction with ``SET LOCAL`` per write.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        except DatabaseError:
            # The connection or its transaction failed: a rollback undoes the SET anyway, and
            # the error that matters is the one already on its way up.
            pass


def datafile_claim(datafile_id: int) -> bool:
    """Atomically move a stored file to processing; False if someone else owns it."""
    return _claim(datafile_id) is not None


def _claim(datafile_id: int) -> DataFile | None:
    """Claim a stored file and read it in one statement (``UPDATE ... RETURNING``, PostgreSQL
    and SQLite >= 3.35): the conditional UPDATE is the claim, the returned row is the file as
    claimed, with its dataset's PID beside it. None if someone else owns the file."""
    quote = connection.ops.quote_name
    table, datasets = quote(DataFile._meta.db_table), quote(Dataset._meta.db_table)
    claimed = DataFile.objects.raw(
        f"UPDATE {table} SET state = %s, modified = %s, error = '' "  # noqa: S608 - names only
        f"WHERE id = %s AND state = %s RETURNING *, "
        f"(SELECT pid FROM {datasets} WHERE {datasets}.id = {table}.dataset_id) AS dataset_pid",
        [
            str(FileState.PROCESSING),
            connection.ops.adapt_datetimefield_value(timezone.now()),
            datafile_id,
            str(FileState.STORED),
        ],
    )
    return next(iter(claimed), None)


def _fail(datafile: DataFile, message: str, **fields: Any) -> str:
    for name, value in fields.items():
        setattr(datafile, name, value)
    datafile.state = FileState.FAILED
    datafile.error = message[:2000]
    datafile.save(update_fields=["state", "error", "modified", *fields])
    return Outcome.FAILED


def datafile_process(datafile_id: int) -> str:
    """Checksum, detect, read the header and make a thumbnail for one stored file."""
    with _recomputable_writes():
        datafile = _claim(datafile_id)
        if datafile is None:
            return Outcome.SKIPPED
        outcome = _process_claimed(datafile)
    dataset_settle_if_done(datafile.dataset_id, after_one_file=True)
    return outcome


def _process_claimed(datafile: DataFile) -> str:
    try:
        return _process(datafile, storage.get_store())
    except TransientStorageError:
        # Give the file back so the retried task can claim it again.
        DataFile.objects.filter(pk=datafile.pk, state=FileState.PROCESSING).update(
            state=FileState.STORED
        )
        raise
    except ObjectNotFound:
        return _fail(datafile, "the file is missing from storage (deleted or never uploaded)")
    except StorageError as exc:
        return _fail(datafile, f"storage error: {exc}")


#: A worker hashing a file touches its row this often; the reconciler hands back files left
#: untouched for 30 minutes, so a live worker hashing a file for hours keeps it.
HEARTBEAT_SECONDS = 60.0


class _Heartbeat:
    """Called with the bytes hashed so far; at most every ``HEARTBEAT_SECONDS`` it touches the
    claimed file's ``modified`` (only while it is still ``processing``), in the worker's own
    thread and connection."""

    def __init__(self, datafile_id: int) -> None:
        self.datafile_id = datafile_id
        self.last = time.monotonic()
        self.beats = 0

    def __call__(self, hashed: int) -> None:
        now = time.monotonic()
        if now - self.last < HEARTBEAT_SECONDS:
            return
        self.last = now
        self.beats += DataFile.objects.filter(
            pk=self.datafile_id, state=FileState.PROCESSING
        ).update(modified=timezone.now())


def _read_and_hash(
    store: storage.ObjectStore, key: str, size: int, heartbeat: _Heartbeat | None = None
) -> tuple[Digests, storage.ByteSource]:
    """Checksums in one read pass, and the source the readers will parse.

    A small file (sidecars, micrographs' previews) is read whole in one request and hashed in
    this thread: the readers would fetch it whole anyway, and a reader thread costs more than
    hashing a megabyte. Larger files stream, reading and hashing overlapped.
    """
    md5 = settings.OPENEM_CHECKSUM_MD5
    if size <= WHOLE_FILE_BYTES:
        data = store.read(key, 0, size + 1)  # one byte more: a file that grew is noticed
        sha256_hash = hashlib.sha256(data)
        md5_hash = hashlib.md5(data, usedforsecurity=False) if md5 else None
        digests = Digests(
            sha256_hash.hexdigest(), md5_hash.hexdigest() if md5_hash else None, len(data)
        )
        return digests, storage.BytesSource(data)
    digests = hash_stream(store.iter_chunks(key), md5=md5, progress=heartbeat)
    return digests, ObjectSource(store, key, size=size)


def _process(datafile: DataFile, store: storage.ObjectStore) -> str:
    actual_size = store.size(datafile.storage_key)
    digests, source = _read_and_hash(
        store, datafile.storage_key, actual_size, _Heartbeat(datafile.pk)
    )
    checksums = {
        "checksum_sha256": digests.sha256,
        "checksum_md5": digests.md5 or "",
        "checksum_verified_at": timezone.now(),
    }
    if digests.size != actual_size:
        return _fail(
            datafile,
            f"the file changed while it was read ({actual_size} then {digests.size} bytes)",
            **checksums,
        )
    if datafile.expected_sha256 and datafile.expected_sha256 != digests.sha256:
        return _fail(
            datafile,
            f"checksum mismatch: the uploader declared SHA-256 {datafile.expected_sha256}, the stored file has {digests.sha256}",
            **checksums,
        )
    result = extract(source, datafile.path)
    header = dict(result.header)
    if result.warnings:
        header["_warnings"] = result.warnings
    thumb = ""
    if result.ok and result.thumbnail_plan is not None:
        thumb = _store_thumbnail(datafile, store, source, result)
    datafile.size = actual_size
    datafile.format = result.format.value
    datafile.header = header
    datafile.thumbnail_key = thumb
    for name, value in checksums.items():
        setattr(datafile, name, value)
    fields = ["size", "format", "header", "thumbnail_key", *checksums]
    if result.errors:
        return _fail(
            datafile, "; ".join(result.errors), **{f: getattr(datafile, f) for f in fields}
        )
    datafile.state = FileState.READY
    datafile.error = ""
    datafile.save(update_fields=["state", "error", "modified", *fields])
    return Outcome.READY


def _store_thumbnail(
    datafile: DataFile, store: storage.ObjectStore, source: storage.ByteSource, result: Any
) -> str:
    try:
        thumbnail = render_thumbnail(source, result)
    except Exception:  # a thumbnail is a nicety: never fail a file for it
        logger.exception("thumbnail failed for file %s", datafile.pk)
        return ""
    if not thumbnail.png:
        return ""
    key = thumbnail_key(datafile)
    store.put(key, thumbnail.png, content_type="image/png")
    return key


# --- Dataset level -----------------------------------------------------------------------------


#: While its session is acquiring (``openem watch``), a dataset gains a file every few seconds
#: for hours, and each file settled alone would aggregate every sidecar of the dataset again
#: (a 10,000-movie session: 10^8 sidecar reads). Files settled then aggregate the dataset at
#: most once per this many seconds, and a settle follows the last of them this much later;
#: closing the session aggregates once more.
ACQUIRING_SETTLE_SECONDS = 60


def _settle_later(dataset_id: int) -> bool:
    """Whether the file just settled leaves its dataset's settle to a later task: while an
    acquiring session of the dataset is open and the dataset was aggregated less than
    ``ACQUIRING_SETTLE_SECONDS`` ago (per dataset, in the shared cache). The first file to
    be left schedules that task. In-process tasks (the embedded default) always settle."""
    from django.core.cache import cache

    from .models import UploadSession, UploadSessionState
    from .tasks import settle_dataset

    if settle_dataset.app.conf.task_always_eager:
        return False
    acquiring = UploadSession.objects.filter(
        dataset_id=dataset_id, state=UploadSessionState.OPEN, acquiring=True
    )
    if not acquiring.exists():
        return False
    if cache.add(f"openem:settled:{dataset_id}", 1, timeout=ACQUIRING_SETTLE_SECONDS):
        return False  # the first in this period settles now
    if cache.add(f"openem:settle-due:{dataset_id}", 1, timeout=ACQUIRING_SETTLE_SECONDS):
        try:
            settle_dataset.apply_async((dataset_id,), countdown=ACQUIRING_SETTLE_SECONDS)
        except Exception:  # the broker is down: settle now rather than never
            logger.warning("dataset %s: later settle not queued; settling now", dataset_id)
            cache.delete(f"openem:settle-due:{dataset_id}")
            return False
    return True


def dataset_settle_if_done(dataset_id: int, *, after_one_file: bool = False) -> bool:
    """When no file of the dataset is still moving, derive its metadata, validate it against
    the dataset's schema, and mark the dataset ready for curation. ``after_one_file``: called
    as a file settled, which may leave the work to a later task (:func:`_settle_later`)."""
    if DataFile.objects.filter(dataset_id=dataset_id, state__in=UNSETTLED_STATES).exists():
        return False
    if after_one_file and _settle_later(dataset_id):
        return False
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().get(pk=dataset_id)
        if DataFile.objects.filter(dataset_id=dataset_id, state__in=UNSETTLED_STATES).exists():
            return False
        dataset_aggregate_metadata(dataset)
        if dataset.status in (DatasetStatus.DRAFT, DatasetStatus.INGESTING):
            dataset.status = DatasetStatus.READY
        dataset.save(update_fields=["metadata", "status", "modified"])
        try:
            dataset_validate_metadata(dataset)
        except NotFound as exc:  # no schema registered for the technique: say so, don't stall
            Dataset.objects.filter(pk=dataset.pk).update(
                metadata_validation={
                    "valid": False,
                    "problems": [{"path": "", "message": exc.message}],
                }
            )
    return True


class _Sidecars:
    """Streams the parsed sidecars of a dataset and remembers where values came from."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self.count = 0
        self.first_path = ""
        self.sources: set[str] = set()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rows = (
            DataFile.objects.filter(
                dataset=self.dataset,
                state=FileState.READY,
                format__in=[FileFormat.EPU_XML, FileFormat.MDOC],
            )
            .order_by("path")
            .values_list("path", "header")
        )
        for path, header in rows.iterator(chunk_size=2000):
            if header.get("sidecar") in SIDECAR_SOURCES:
                self.count += 1
                self.first_path = self.first_path or path
                self.sources.add(header["sidecar"])
                yield header

    def provenance(self) -> dict[str, str]:
        more = f" and {self.count - 1} more" if self.count > 1 else ""
        return {"file": f"{self.first_path}{more}", "source": "/".join(sorted(self.sources))}


def dataset_aggregate_metadata(dataset: Dataset, *, cs_mm: float | None = None) -> dict[str, Any]:
    """Derive the OSC-EM document from the sidecars and merge it under the entered metadata.

    Values a person entered win over derived ones; derived values are refreshed each time, and
    ``_provenance`` says which values came from the instrument files (the metadata form shows
    them read-only with their source).
    """
    technique = OSCEM_TECHNIQUE.get(dataset.technique, "general")
    sidecars = _Sidecars(dataset)
    from_sidecars = aggregate_sidecars(sidecars, technique=technique, cs_mm=cs_mm)
    from_headers, header_sources = image_header_document(
        _image_headers(dataset), technique=technique
    )
    derived = _merge(from_headers, from_sidecars)  # the sidecars' values win
    entered = {k: v for k, v in dataset.metadata.items() if not k.startswith("_")}
    previous = dataset.metadata.get("_derived") or {}
    # What a person entered is what differs from the previous derivation.
    entered = _entered_only(entered, previous)
    # Entered quantities get their SI values as the metadata form would give them (range
    # searches compare those); derived ones already have them.
    merged = with_si_for_technique(_merge(derived, entered), dataset.technique)
    source = sidecars.provenance()
    merged_leaves = _leaves(merged)
    sidecar_leaves = _leaves(from_sidecars)
    provenance: dict[str, Any] = {}
    for path, value in _leaves(derived).items():
        if merged_leaves.get(path) != value:
            continue  # a person's value
        if path in sidecar_leaves:
            if sidecars.count:
                provenance[path] = source
        elif (header_source := _header_source(path, header_sources)) is not None:
            provenance[path] = header_source
    merged["_provenance"] = provenance
    merged["_derived"] = derived
    dataset.metadata = merged
    return derived


#: Image files whose headers are read per format (the first values are the ones used).
_HEADER_FILES_PER_FORMAT = 20


def _image_headers(dataset: Dataset) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for fmt in (FileFormat.EER, FileFormat.MRC, FileFormat.TIFF):
        rows = (
            DataFile.objects.filter(dataset=dataset, state=FileState.READY, format=fmt)
            .order_by("path")
            .values_list("path", "format", "header")[:_HEADER_FILES_PER_FORMAT]
        )
        yield from rows


def _header_source(path: str, sources: dict[str, dict[str, str]]) -> dict[str, str] | None:
    for target, source in sources.items():
        if path == target or path.startswith(target + "."):
            return source
    return None


def _leaves(document: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths of values, a quantity ({value, unit}) or a list counting as one value."""
    if isinstance(document, dict) and not ({"value", "unit"} <= document.keys()):
        out: dict[str, Any] = {}
        for key, value in document.items():
            out.update(_leaves(value, f"{prefix}.{key}" if prefix else key))
        return out
    return {prefix: document}


def _entered_only(current: dict[str, Any], derived_before: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in current.items():
        before = derived_before.get(key)
        if (
            isinstance(value, dict)
            and isinstance(before, dict)
            and not ({"value", "unit"} <= value.keys())
        ):
            nested = _entered_only(value, before)
            if nested:
                out[key] = nested
        elif value != before:
            out[key] = value
    return out


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


# --- Fixity and reconciliation --------------------------------------------------------------------


def fixity_check_batch(
    *, fraction: float | None = None, limit: int | None = None
) -> dict[str, int]:
    """Re-hash a share of the ready files, oldest check first; flag and report mismatches."""
    fraction = settings.OPENEM_FIXITY_FRACTION if fraction is None else fraction
    ready = DataFile.objects.filter(state=FileState.READY)
    if limit is None:
        limit = max(1, int(ready.count() * fraction)) if fraction > 0 else 0
    ids = list(
        ready.order_by(F("checksum_verified_at").asc(nulls_first=True), "pk").values_list(
            "pk", flat=True
        )[:limit]
    )
    counts = {"checked": 0, "mismatched": 0, "missing": 0, "unreadable": 0}
    store = storage.get_store()
    for datafile in DataFile.objects.filter(pk__in=ids).select_related("dataset"):
        counts["checked"] += 1
        try:
            digests = hash_stream(store.iter_chunks(datafile.storage_key), md5=False)
            problem = (
                None
                if digests.sha256 == datafile.checksum_sha256
                else (
                    f"checksum mismatch: stored SHA-256 is now {digests.sha256}, expected {datafile.checksum_sha256}"
                )
            )
        except ObjectNotFound:
            problem = "checksum mismatch: the file is missing from storage"
            counts["missing"] += 1
        except StorageError as exc:
            # Storage unreachable or throttled for this file (retries spent): not evidence of
            # damage. Its check time stays as it was, so it is first in line next run, and the
            # other files of the batch are still checked.
            logger.warning("fixity check of file %s could not read it: %s", datafile.pk, exc)
            counts["unreadable"] += 1
            continue
        if problem is None:
            DataFile.objects.filter(pk=datafile.pk).update(checksum_verified_at=timezone.now())
            continue
        counts["mismatched"] += 1
        _report_fixity_failure(datafile, problem)
    return counts


def _report_fixity_failure(datafile: DataFile, problem: str) -> None:
    with transaction.atomic():
        DataFile.objects.filter(pk=datafile.pk).update(
            state=FileState.FAILED,
            error=problem,
            checksum_verified_at=timezone.now(),
            modified=timezone.now(),
        )
        audit_record(
            actor=None,
            action=AuditAction.FIXITY_FAILED,
            target=datafile,
            dataset=datafile.dataset,
            details={"path": datafile.path, "problem": problem},
        )
    mail_admins(
        f"Fixity check failed: {datafile.dataset.pid} {datafile.path}",
        f"Dataset {datafile.dataset.pid} ({datafile.dataset.title})\nFile: {datafile.path}\n{problem}\n",
        fail_silently=True,
    )


def reconcile_stuck_files(*, older_than: dt.timedelta = dt.timedelta(minutes=30)) -> list[int]:
    """Files a dead worker left in stored/processing: put back to stored and return their ids
    (the task re-enqueues them)."""
    cutoff = timezone.now() - older_than
    stuck = DataFile.objects.filter(
        Q(state=FileState.STORED) | Q(state=FileState.PROCESSING), modified__lt=cutoff
    )
    ids = list(stuck.values_list("pk", flat=True)[:10_000])
    # Still stuck at this instant (a worker may have claimed one since the SELECT: leave it).
    # Touching ``modified`` re-enqueues a file at most once per ``older_than``, not every run.
    stuck.filter(pk__in=ids).update(state=FileState.STORED, modified=timezone.now())
    return ids


def reconcile_unsettled_datasets() -> list[int]:
    """Settle the datasets a dead worker left ``ingesting`` with every file settled.

    A file's task settles its dataset after the file's outcome is written, in a step of its
    own: a worker killed (or a database connection lost) between the two leaves every file
    ``ready`` or ``failed`` and the dataset ``ingesting``, and no task of the dataset is left to
    settle it. Settling takes the dataset's row lock and checks again, so a live worker's settle
    and this one never both run.
    """
    unsettled_files = DataFile.objects.filter(dataset_id=OuterRef("pk"), state__in=UNSETTLED_STATES)
    ids = list(
        Dataset.objects.filter(status=DatasetStatus.INGESTING)
        .exclude(Exists(unsettled_files))
        .values_list("pk", flat=True)[:1000]
    )
    return [dataset_id for dataset_id in ids if dataset_settle_if_done(dataset_id)]
