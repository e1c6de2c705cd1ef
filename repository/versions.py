"""Versions of a dataset: selectors (reads) and services (writes).

A dataset is the *concept*; publishing freezes a :class:`DatasetVersion`: its citation metadata
(copied from the dataset) and its file list (:class:`VersionFile` rows, copied from the working
copy's ``DataFile`` rows in one ``INSERT ... SELECT``; the storage objects are shared, never
copied). A new version starts as a draft of the working copy, which then equals the latest
published version; files are added (upload sessions), removed or replaced, metadata edited, and
publishing freezes it as v(n+1).

The API other apps use (``fair``, ``publishing``, the landing pages, the API):

- ``dataset_versions(dataset)``: every version, v1 first.
- ``version_latest_published(dataset)``: the newest published (not withdrawn) version, or None.
- ``version_get(dataset, number)``, ``version_draft(dataset)``.
- ``version_files(version)``: a frozen version's files (none once withdrawn), in path order.
- ``version_as_dataset(version)``: an unsaved Dataset carrying the version's metadata, for
  renderers written for datasets (citation, JSON-LD, metadata tables).
- ``version_publish``, ``version_start_draft``, ``version_draft_remove_files``,
  ``version_withdraw``: the writes.
"""

from __future__ import annotations

import copy
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max, QuerySet, Sum
from django.utils import timezone

from openem.errors import Conflict, NotAllowed, ValidationFailed
from openem.memo import memoized

from . import access, citation, signals
from .audit import audit_record
from .models import (
    AuditAction,
    DataFile,
    Dataset,
    DatasetStatus,
    DatasetVersion,
    FileState,
    VersionFile,
    VersionState,
    Visibility,
)

#: The fields a version freezes from its dataset (the citation metadata).
FROZEN_FIELDS = (
    "title",
    "description",
    "licence",
    "keywords",
    "metadata",
    "visibility",
    "embargo_until",
    "emdb_ids",
    "empiar_id",
    "publication_dois",
)


# --- selectors ---------------------------------------------------------------------------------


def dataset_versions(dataset: Dataset) -> QuerySet[DatasetVersion]:
    """Every version of ``dataset`` (drafts and withdrawn ones included), v1 first."""
    return DatasetVersion.objects.filter(dataset=dataset).order_by("number")


def versions_published(dataset: Dataset) -> QuerySet[DatasetVersion]:
    """The versions a visitor may list: published and withdrawn (tombstones), v1 first."""
    return dataset_versions(dataset).exclude(state=VersionState.DRAFT)


def version_latest_published(dataset: Dataset) -> DatasetVersion | None:
    """The newest published, not withdrawn, version: what ``/datasets/<pid>/`` shows."""
    return memoized(
        ("version_latest_published", dataset.pk),
        lambda: (
            DatasetVersion.objects.filter(dataset=dataset, state=VersionState.PUBLISHED)
            .order_by("-number")
            .first()
        ),
    )


def version_get(dataset: Dataset, number: int) -> DatasetVersion | None:
    return DatasetVersion.objects.filter(dataset=dataset, number=number).first()


def version_draft(dataset: Dataset) -> DatasetVersion | None:
    return memoized(
        ("version_draft", dataset.pk),
        lambda: DatasetVersion.objects.filter(dataset=dataset, state=VersionState.DRAFT).first(),
    )


def version_files(version: DatasetVersion) -> QuerySet[VersionFile]:
    """A frozen version's files in path order (uses the (version, path) unique index). A
    withdrawn version has none: its files are gone from every surface. A draft's files are the
    working copy (``dataset.files``), not frozen rows."""
    if version.state != VersionState.PUBLISHED:
        return VersionFile.objects.none()
    return VersionFile.objects.filter(version=version).order_by("path")


def version_is_latest(version: DatasetVersion) -> bool:
    latest = version_latest_published(version.dataset)
    return latest is not None and latest.pk == version.pk


def version_newer(version: DatasetVersion) -> DatasetVersion | None:
    """The latest published version when it is newer than ``version`` ("a newer version
    exists")."""
    latest = version_latest_published(version.dataset)
    return latest if latest is not None and latest.number > version.number else None


def version_as_dataset(version: DatasetVersion) -> Dataset:
    """An unsaved copy of the dataset carrying this version's frozen metadata, so that the
    renderers written for datasets (citation, BibTeX, JSON-LD, metadata tables) show the version
    as published, not the draft being edited."""
    shown = copy.copy(version.dataset)
    for field in FROZEN_FIELDS:
        setattr(shown, field, copy.deepcopy(getattr(version, field)))
    shown.published_at = version.published_at
    shown._state = copy.copy(version.dataset._state)
    return shown


def working_copy_is_frozen_for(user: Any, dataset: Dataset) -> bool:
    """Whether ``user`` must be served the latest published version's frozen files instead of
    the working copy: an outsider, while a draft that changed files is open."""
    if access.is_insider(user, dataset):
        return False
    return DatasetVersion.objects.filter(
        dataset=dataset, state=VersionState.DRAFT, files_changed=True
    ).exists()


# --- services ----------------------------------------------------------------------------------


def citation_fields_missing(dataset: Dataset) -> list[str]:
    """The required citation fields a dataset lacks (creators, title, licence), by name."""
    missing = []
    if not " ".join((dataset.title or "").split()):
        missing.append("title")
    if not citation.authors(dataset):
        missing.append("creators (metadata.organizational.authors)")
    if not (dataset.licence or "").strip():
        missing.append("licence")
    return missing


def version_ensure_draft(*, dataset: Dataset) -> DatasetVersion:
    """The open draft, or v1 of a dataset never published (datasets made before versions, or by
    code that did not start one)."""
    draft = version_draft(dataset)
    if draft is not None:
        return draft
    if DatasetVersion.objects.filter(dataset=dataset).exists():
        raise Conflict(
            f"{dataset.pid} has no open draft: start a new version before changing or publishing it"
        )
    return DatasetVersion.objects.create(dataset=dataset, number=1, created=dataset.created)


@transaction.atomic
def version_publish(*, actor: Any, dataset: Dataset) -> DatasetVersion:
    """Freeze the open draft of ``dataset`` (its metadata and the working copy's file list).
    Called by ``repository.services.dataset_publish`` once visibility is set."""

    missing = citation_fields_missing(dataset)
    if missing:
        raise ValidationFailed(
            "cannot publish: required citation fields are missing: " + ", ".join(missing),
            details={"missing": missing},
        )
    Dataset.objects.select_for_update().filter(pk=dataset.pk).first()  # one publisher at a time
    draft = version_ensure_draft(dataset=dataset)
    unfinished = DataFile.objects.filter(dataset=dataset, state=FileState.REGISTERED)
    if unfinished.exists():
        raise ValidationFailed(
            f"{unfinished.count()} files of {dataset.pid} are still uploading; publish when "
            "their uploads are complete (or remove them)"
        )
    now = timezone.now()
    for field in FROZEN_FIELDS:
        setattr(draft, field, copy.deepcopy(getattr(dataset, field)))
    draft.state = VersionState.PUBLISHED
    draft.published_at = now
    draft.published_by = actor if getattr(actor, "is_authenticated", False) else None
    draft.files_changed = False
    _freeze_files(dataset, draft)
    draft.save()
    return draft


def _freeze_files(dataset: Dataset, version: DatasetVersion) -> None:
    """Copy the working copy's file list into frozen rows: one INSERT ... SELECT, whatever the
    count (the ORM has no such statement; the table names are the models' own)."""
    VersionFile.objects.filter(version=version).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {VersionFile._meta.db_table} "  # noqa: S608 - model table names only
            "(version_id, path, directory, name, size, storage_key, format, checksum_sha256, "
            "checksum_md5) SELECT %s, path, directory, name, size, storage_key, format, "
            f"checksum_sha256, checksum_md5 FROM {DataFile._meta.db_table} WHERE dataset_id = %s",
            [version.pk, dataset.pk],
        )
    totals = VersionFile.objects.filter(version=version).aggregate(n=Count("pk"), b=Sum("size"))
    version.file_count, version.total_bytes = totals["n"] or 0, totals["b"] or 0


@transaction.atomic
def version_start_draft(*, actor: Any, dataset: Dataset, notes: str = "") -> DatasetVersion:
    """Open v(n+1) as a draft copied from the latest published version. The working copy
    already holds that version's files (shared with it), so nothing is copied: files and
    metadata change on the dataset until ``version_publish`` freezes them."""
    if not access.can_publish(actor, dataset):
        raise NotAllowed("only curators of the dataset's facility may start a new version")
    Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
    if version_draft(dataset) is not None:
        raise Conflict(f"{dataset.pid} already has an open draft version; publish it first")
    latest = version_latest_published(dataset)
    if latest is None:
        raise Conflict(f"{dataset.pid} has no published version to start a new one from")
    if dataset.status == DatasetStatus.WITHDRAWN:
        raise Conflict(f"{dataset.pid} is withdrawn; it cannot get a new version")
    number = (dataset_versions(dataset).aggregate(n=Max("number"))["n"] or 0) + 1
    draft = DatasetVersion.objects.create(dataset=dataset, number=number, notes=notes.strip())
    audit_record(
        actor=actor,
        action=AuditAction.VERSION_CREATED,
        target=draft,
        dataset=dataset,
        details={"version": number, "from": latest.number},
    )
    return draft


@transaction.atomic
def version_draft_remove_files(*, actor: Any, dataset: Dataset, paths: list[str]) -> int:
    """Remove files (by path) from the open draft of a published dataset. The storage objects
    stay: earlier versions still hold them. A replaced file is a removed one uploaded again."""
    if not access.can_publish(actor, dataset):
        raise NotAllowed("only curators of the dataset's facility may change a version's files")
    draft = version_draft(dataset)
    if draft is None or not versions_published(dataset).exists():
        raise Conflict(f"{dataset.pid} has no open draft of a new version; start one first")
    if not paths:
        raise ValidationFailed("no paths to remove")
    found = DataFile.objects.filter(dataset=dataset, path__in=paths)
    unknown = sorted(set(paths) - set(found.values_list("path", flat=True)))
    if unknown:
        raise ValidationFailed(
            f"{len(unknown)} paths are not in the dataset, e.g. {unknown[0]!r}",
            details={"unknown": unknown[:100]},
        )
    removed, _ = found.delete()
    DatasetVersion.objects.filter(pk=draft.pk).update(files_changed=True)
    return removed


def version_draft_files_changed(*, dataset: Dataset) -> None:
    """Record that the open draft's files differ from the latest published version (ingest
    calls this when an upload session opens on a published dataset)."""
    DatasetVersion.objects.filter(dataset=dataset, state=VersionState.DRAFT).update(
        files_changed=True
    )


@transaction.atomic
def version_withdraw(*, actor: Any, dataset: Dataset, number: int, reason: str) -> DatasetVersion:
    """Withdraw a published version, leaving a tombstone (citation metadata and the reason).
    Withdrawing the latest one withdraws the dataset: its files are gone from every surface."""
    if not access.can_publish(actor, dataset):
        raise NotAllowed("only curators of the dataset's facility may withdraw a version")
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationFailed("a withdrawal needs a reason (it is shown on the tombstone)")
    if len(reason) > 2000:
        raise ValidationFailed("the reason is longer than 2,000 characters")
    version = (
        DatasetVersion.objects.select_for_update().filter(dataset=dataset, number=number).first()
    )
    if version is None:
        from openem.errors import NotFound

        raise NotFound(f"{dataset.pid} has no version {number}")
    if version.state == VersionState.WITHDRAWN:
        raise Conflict(
            f"version {number} of {dataset.pid} was already withdrawn on "
            f"{version.withdrawn_at:%Y-%m-%d}: {version.withdrawal_reason}"
        )
    if version.state == VersionState.DRAFT:
        raise Conflict(f"version {number} of {dataset.pid} is a draft; only published ones")
    was_latest = version_is_latest(version)
    version.state = VersionState.WITHDRAWN
    version.withdrawn_at = timezone.now()
    version.withdrawn_by = actor if getattr(actor, "is_authenticated", False) else None
    version.withdrawal_reason = reason
    version.save(update_fields=["state", "withdrawn_at", "withdrawn_by", "withdrawal_reason"])
    if was_latest:
        # The working copy holds the withdrawn files: the whole dataset becomes a tombstone.
        dataset.status = DatasetStatus.WITHDRAWN
        dataset.save(update_fields=["status", "modified"])
        DatasetVersion.objects.filter(dataset=dataset, state=VersionState.DRAFT).delete()
    audit_record(
        actor=actor,
        action=AuditAction.WITHDRAWN,
        target=version,
        dataset=dataset,
        details={"version": number, "reason": reason, "dataset_withdrawn": was_latest},
    )
    # publishing hides the DOI at DataCite: it still resolves, to the tombstone
    signals.version_withdrawn.send(sender=Dataset, dataset=dataset, version=version)
    return version


def visibility_of(version: DatasetVersion) -> str:
    return version.visibility or Visibility.PRIVATE
