"""Every write of the deposition workflow (pages, API, tasks and commands call these).

Each step checks that the actor may publish the dataset (curators of its facility, admins),
moves the state with a conditional UPDATE (two clicks, two workers: one wins, the other is
told), and records itself in the audit trail. Nothing is sent to an archive without an
explicit action of a curator, and a dry run is the default for those that would.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import storage
from deposition import packaging
from deposition.documents import BuiltDocument, build_document
from deposition.empiar.client import EmpiarApiError, EmpiarClient, EmpiarResult
from deposition.models import Deposition, DepositionState, DepositionTarget, PackageJob
from metadata.validation import text_problems
from openem.errors import Conflict, NotAllowed, ValidationFailed
from repository import access
from repository.audit import audit_record
from repository.models import AuditAction, Dataset

logger = logging.getLogger(__name__)

ACCESSION_PATTERNS = {
    DepositionTarget.EMPIAR: re.compile(r"EMPIAR-\d{5,6}"),
    DepositionTarget.EMDB: re.compile(r"EMD-\d{4,6}"),
}
#: States from which a deposition may be (re)checked: not while the archive has it.
CHECKABLE = (
    DepositionState.DRAFT,
    DepositionState.VALIDATED,
    DepositionState.PACKAGED,
    DepositionState.REJECTED,
)
#: A packaging job older than this is taken to be dead and may be queued again.
STALE_JOB = dt.timedelta(hours=6)
#: A running packaging job touches its ``modified`` this often (seconds) ...
HEARTBEAT_SECONDS = 60.0
#: ... so one silent this long lost its worker (or, queued, its message): the reconciler
#: queues it again.
SILENT_JOB = dt.timedelta(minutes=30)


def _storable(text: str, what: str) -> str:
    """A curator's note as the database can store it (the rule of ``text_problems``)."""
    if text_problems(text):
        raise ValidationFailed(f"the {what} contains a NUL character or an invalid character")
    return text


def _require_curator(actor: Any, dataset: Dataset) -> None:
    if not access.can_publish(actor, dataset):
        raise NotAllowed(
            "only curators of the dataset's facility (and site admins) may prepare depositions"
        )


def _target(target: str) -> DepositionTarget:
    try:
        return DepositionTarget(target)
    except ValueError:
        raise ValidationFailed(
            f"unknown archive {target!r}: use one of {', '.join(DepositionTarget.values)}"
        ) from None


def _audit(actor: Any, deposition: Deposition, step: str, **details: Any) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.DEPOSITION,
        target=deposition,
        dataset=deposition.dataset,
        details={"target": deposition.target, "step": step, **details},
    )


def _move(deposition: Deposition, allowed: tuple[str, ...], new_state: str, **fields: Any) -> None:
    """Conditional UPDATE: the state changes only if it still is one of ``allowed``."""
    now = timezone.now()
    updated = Deposition.objects.filter(pk=deposition.pk, state__in=allowed).update(
        state=new_state, modified=now, **fields
    )
    if not updated:
        deposition.refresh_from_db()
        raise Conflict(
            f"the {deposition.get_target_display()} deposition is {deposition.state}; this step "
            f"needs it to be {' or '.join(allowed)}"
        )
    deposition.refresh_from_db()


def _save_check(deposition: Deposition, built: BuiltDocument) -> dict[str, Any]:
    return {
        "report": built.report.to_dict(),
        "document": built.text,
        "document_sha256": built.sha256,
        "validated_at": timezone.now() if built.valid else None,
    }


@transaction.atomic
def deposition_validate(*, actor: Any, dataset: Dataset, target: str) -> Deposition:
    """Build the document from the dataset as it is now, check it, and keep the report.

    Valid: ``validated``; not valid: ``draft``. A package made from an older document stays
    only if the document is unchanged.
    """
    _require_curator(actor, dataset)
    archive = _target(target)
    deposition, created = Deposition.objects.get_or_create(
        dataset=dataset, target=archive, defaults={"created_by": actor}
    )
    if deposition.state not in CHECKABLE:
        raise Conflict(
            f"the deposition is {deposition.state}: record the accession code or the rejection "
            "before checking it again"
        )
    built = build_document(dataset, archive)
    fields = _save_check(deposition, built)
    unchanged = built.sha256 == deposition.document_sha256
    if built.valid and deposition.state == DepositionState.PACKAGED and unchanged:
        new_state = DepositionState.PACKAGED
    else:
        new_state = DepositionState.VALIDATED if built.valid else DepositionState.DRAFT
        if deposition.state == DepositionState.PACKAGED:
            fields.update(package_prefix="", package={}, package_job=PackageJob.NONE)
    _move(deposition, CHECKABLE, new_state, **fields)
    _audit(
        actor,
        deposition,
        "validate",
        valid=built.valid,
        errors=len(built.report.errors),
        warnings=len(built.report.warnings),
        state=new_state,
        created=created,
    )
    return deposition


@transaction.atomic
def deposition_package_request(*, actor: Any, deposition: Deposition) -> Deposition:
    """Queue the packaging of a validated deposition (the ``export`` queue does the copying)."""
    from deposition.tasks import package_deposition

    _require_curator(actor, deposition.dataset)
    stale = timezone.now() - STALE_JOB
    updated = (
        Deposition.objects.filter(
            pk=deposition.pk,
            state__in=(DepositionState.VALIDATED, DepositionState.PACKAGED),
        )
        .exclude(package_job=PackageJob.QUEUED, package_job_started_at__gt=stale)
        .exclude(package_job=PackageJob.RUNNING, package_job_started_at__gt=stale)
        .update(
            package_job=PackageJob.QUEUED,
            package_error="",
            package_job_started_at=timezone.now(),
            modified=timezone.now(),
        )
    )
    deposition.refresh_from_db()
    if not updated:
        if deposition.package_job in (PackageJob.QUEUED, PackageJob.RUNNING):
            raise Conflict("the package is already being made")
        raise Conflict(f"the deposition is {deposition.state}: validate it before packaging it")
    _audit(actor, deposition, "package requested")
    deposition_id = deposition.pk
    transaction.on_commit(lambda: package_deposition.delay(deposition_id))
    return deposition


def deposition_package_run(deposition_id: int) -> str:
    """Make the package (the task's body). Claims the job; a second delivery does nothing.

    The claim's time names the run: only the run that holds it may record its package, so a
    worker presumed dead (its heartbeat stopped) that finishes after all cannot overwrite the
    run that replaced it. A run first deletes what dead runs left behind."""
    started = timezone.now()
    claimed = Deposition.objects.filter(pk=deposition_id, package_job=PackageJob.QUEUED).update(
        package_job=PackageJob.RUNNING, package_job_started_at=started
    )
    if not claimed:
        return "skipped"
    deposition = Deposition.objects.select_related("dataset").get(pk=deposition_id)
    mine = Q(pk=deposition_id, package_job=PackageJob.RUNNING, package_job_started_at=started)
    built = build_document(deposition.dataset, deposition.target)
    if not built.valid:
        # The dataset changed since it was validated: never package an invalid document.
        Deposition.objects.filter(mine).update(
            package_job=PackageJob.FAILED,
            package_error="the document no longer validates; see the new report",
            state=DepositionState.DRAFT,
            modified=timezone.now(),
            **_save_check(deposition, built),
        )
        _audit(None, deposition, "package failed", reason="document invalid")
        return "invalid"
    prefix = packaging.package_prefix(deposition, started)
    try:
        with _heartbeat(mine):
            if discarded := packaging.discard_partial_runs(deposition, keep=prefix):
                _audit(None, deposition, "partial package discarded", objects=discarded)
            result = packaging.build_package(deposition, built, prefix=prefix)
    except storage.TransientStorageError:
        Deposition.objects.filter(mine).update(package_job=PackageJob.QUEUED)
        raise
    except (packaging.PackagingError, storage.StorageError) as exc:
        Deposition.objects.filter(mine).update(
            package_job=PackageJob.FAILED, package_error=str(exc)[:2000], modified=timezone.now()
        )
        _audit(None, deposition, "package failed", reason=str(exc)[:500])
        return "failed"
    with transaction.atomic():
        updated = Deposition.objects.filter(
            mine, state__in=(DepositionState.VALIDATED, DepositionState.PACKAGED)
        ).update(
            state=DepositionState.PACKAGED,
            package_job=PackageJob.NONE,
            package_prefix=result.prefix,
            package=result.summary(),
            modified=timezone.now(),
            **_save_check(deposition, built),
        )
        if updated:
            _audit(
                None,
                deposition,
                "packaged",
                prefix=result.prefix,
                files=result.files,
                bytes=result.bytes,
            )
    return "packaged" if updated else "superseded"


@contextlib.contextmanager
def _heartbeat(mine: Q) -> Iterator[None]:
    """While the package is made, touch the job's ``modified`` every ``HEARTBEAT_SECONDS`` from
    a thread of its own (one server-side copy of a large map may take long): a job whose
    heartbeat stopped lost its worker, one that still beats is left alone however long it
    runs."""
    from django.db import DatabaseError, connection

    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(HEARTBEAT_SECONDS):
                try:
                    Deposition.objects.filter(mine).update(modified=timezone.now())
                except DatabaseError:
                    logger.warning("packaging job %s: heartbeat not written", mine)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name="package-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def deposition_reconcile_package_jobs(*, older_than: dt.timedelta = SILENT_JOB) -> list[int]:
    """Queue again the packaging jobs nobody is doing: ``running`` ones whose heartbeat stopped
    (a worker killed mid-copy) and ``queued`` ones whose message was lost (a broker restarted
    without persistence). Returns their ids; the caller enqueues them. A new run writes a new
    prefix, so the dead run's partial package is never taken for a package."""
    cutoff = timezone.now() - older_than
    silent = Deposition.objects.filter(
        package_job__in=(PackageJob.QUEUED, PackageJob.RUNNING), modified__lt=cutoff
    ).select_related("dataset")
    requeued = []
    for deposition in silent[:1000]:
        with transaction.atomic():
            now = timezone.now()
            updated = Deposition.objects.filter(
                pk=deposition.pk, package_job=deposition.package_job, modified__lt=cutoff
            ).update(package_job=PackageJob.QUEUED, package_job_started_at=now, modified=now)
            if updated:
                _audit(None, deposition, "package requeued", was=deposition.package_job)
                requeued.append(deposition.pk)
    return requeued


@transaction.atomic
def deposition_mark_submitted(*, actor: Any, deposition: Deposition, note: str = "") -> Deposition:
    """The curator has transferred the package and submitted it to the archive."""
    _require_curator(actor, deposition.dataset)
    note = _storable(note, "note")
    _move(
        deposition,
        (DepositionState.PACKAGED,),
        DepositionState.SUBMITTED,
        submitted_at=timezone.now(),
    )
    _audit(actor, deposition, "submitted", note=note[:500])
    return deposition


@transaction.atomic
def deposition_record_accession(
    *, actor: Any, deposition: Deposition, accession: str
) -> Deposition:
    """The archive's accession code, written back to the dataset's cross-references."""
    _require_curator(actor, deposition.dataset)
    code = accession.strip().upper()
    pattern = ACCESSION_PATTERNS[DepositionTarget(deposition.target)]
    if not pattern.fullmatch(code):
        example = "EMPIAR-10001" if deposition.target == DepositionTarget.EMPIAR else "EMD-12345"
        raise ValidationFailed(f"{accession!r} is not an accession code like {example}")
    dataset = Dataset.objects.select_for_update().get(pk=deposition.dataset_id)
    if deposition.target == DepositionTarget.EMPIAR:
        if dataset.empiar_id and dataset.empiar_id != code:
            raise Conflict(
                f"the dataset already refers to {dataset.empiar_id}; correct its "
                "cross-references first if that is wrong"
            )
        before: Any = dataset.empiar_id
        dataset.empiar_id = code
    else:
        before = list(dataset.emdb_ids)
        if code not in dataset.emdb_ids:
            dataset.emdb_ids = [*dataset.emdb_ids, code]
    _move(
        deposition,
        (DepositionState.SUBMITTED,),
        DepositionState.ACCESSIONED,
        accession=code,
        accessioned_at=timezone.now(),
    )
    dataset.save(update_fields=["empiar_id", "emdb_ids", "modified"])
    _audit(actor, deposition, "accessioned", accession=code)
    audit_record(
        actor=actor,
        action=AuditAction.DEPOSITION,
        target=dataset,
        dataset=dataset,
        details={
            "step": "cross-reference added",
            "target": deposition.target,
            "accession": code,
            "before": before,
        },
    )
    return deposition


@transaction.atomic
def deposition_reject(*, actor: Any, deposition: Deposition, reason: str) -> Deposition:
    """The archive turned the submission down; the reason is kept, the deposition can be
    checked and packaged again."""
    _require_curator(actor, deposition.dataset)
    reason = " ".join(_storable(reason, "reason").split())
    if not reason:
        raise ValidationFailed("say why the archive rejected the deposition")
    _move(
        deposition,
        (DepositionState.SUBMITTED,),
        DepositionState.REJECTED,
        rejected_reason=reason[:2000],
    )
    _audit(actor, deposition, "rejected", reason=reason[:500])
    return deposition


# --- EMPIAR API (explicit curator actions; dry run unless asked otherwise) --------------------


def empiar_client(*, dry_run: bool) -> EmpiarClient:
    return EmpiarClient(
        base_url=settings.OPENEM_EMPIAR_API_URL,
        token=settings.OPENEM_EMPIAR_API_TOKEN,
        dry_run=dry_run,
    )


def _empiar_deposition(actor: Any, deposition: Deposition) -> None:
    _require_curator(actor, deposition.dataset)
    if deposition.target != DepositionTarget.EMPIAR:
        raise ValidationFailed("only EMPIAR depositions go through the EMPIAR API")
    if deposition.state != DepositionState.PACKAGED:
        raise Conflict(
            f"the deposition is {deposition.state}: package it before creating the EMPIAR entry"
        )


def deposition_empiar_create_entry(
    *,
    actor: Any,
    deposition: Deposition,
    dry_run: bool = True,
    grant_rights: dict[str, int] | None = None,
) -> list[EmpiarResult]:
    """Create (or update) the EMPIAR entry from the packaged JSON and upload the thumbnail.

    Returns what was sent (``dry_run``: what would be sent). The entry id and its upload
    directory are kept for the transfer instructions.
    """
    _empiar_deposition(actor, deposition)
    try:
        client = empiar_client(dry_run=dry_run)
        document = json.loads(deposition.document)
        if deposition.remote_entry_id:
            created = client.redeposit_entry(deposition.remote_entry_id, document)
        else:
            created = client.deposit_entry(document)
        results = [created]
        entry_id = created.entry_id or deposition.remote_entry_id or 0
        thumbnail_key = (deposition.package or {}).get("thumbnail_key")
        if thumbnail_key:
            store = storage.get_store()
            png = b"".join(store.iter_chunks(thumbnail_key))
            results.append(client.image_upload(entry_id, png, "entry_thumbnail.png"))
        if grant_rights:
            results += client.grant_rights(entry_id, emails=grant_rights)
    except EmpiarApiError as exc:
        _audit(actor, deposition, "EMPIAR entry failed", dry_run=dry_run, error=str(exc)[:500])
        raise ValidationFailed(str(exc)) from exc
    if not dry_run:
        Deposition.objects.filter(pk=deposition.pk).update(
            remote_entry_id=created.entry_id,
            remote_directory=created.directory,
            modified=timezone.now(),
        )
        deposition.refresh_from_db()
    _audit(
        actor,
        deposition,
        "EMPIAR entry " + ("planned (dry run)" if dry_run else "created"),
        dry_run=dry_run,
        entry_id=deposition.remote_entry_id,
        directory=deposition.remote_directory,
    )
    return results


def deposition_empiar_submit(
    *, actor: Any, deposition: Deposition, dry_run: bool = True
) -> EmpiarResult:
    """Submit the EMPIAR entry to the annotators (after the data transfer). Live, the state
    becomes ``submitted`` and the accession code EMPIAR returns is kept, to be recorded."""
    _empiar_deposition(actor, deposition)
    if not deposition.remote_entry_id and not dry_run:
        raise Conflict("create the EMPIAR entry (and transfer the data) before submitting it")
    try:
        result = empiar_client(dry_run=dry_run).submit_entry(deposition.remote_entry_id or 0)
    except EmpiarApiError as exc:
        _audit(actor, deposition, "EMPIAR submission failed", dry_run=dry_run, error=str(exc)[:500])
        raise ValidationFailed(str(exc)) from exc
    if not dry_run:
        with transaction.atomic():
            _move(
                deposition,
                (DepositionState.PACKAGED,),
                DepositionState.SUBMITTED,
                submitted_at=timezone.now(),
                accession=result.accession,
            )
    _audit(
        actor,
        deposition,
        "EMPIAR submission " + ("planned (dry run)" if dry_run else "sent"),
        dry_run=dry_run,
        accession=result.accession,
    )
    return result
