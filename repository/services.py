"""Every write to facilities' datasets goes through here (views, API, commands and tasks call it)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from metadata.services import with_si_for_technique
from metadata.validation import problems_as_details, problems_summary, text_problems
from openem.errors import Conflict, NotAllowed, ValidationFailed
from storage import object_key

from . import access, signals
from .audit import audit_record
from .models import (
    DOI_VALIDATOR,
    EMDB_ID_VALIDATOR,
    EMPIAR_ID_VALIDATOR,
    AuditAction,
    DataFile,
    Dataset,
    DatasetKind,
    DatasetStatus,
    Facility,
    FileState,
    Instrument,
    Project,
    Technique,
    Visibility,
)
from .paths import sanitise_relative_path, split_path

#: An SPDX licence id (``idstring``: letters, digits, ``-`` and ``.``; ``+`` for "or later").
SPDX_ID = re.compile(r"(LicenseRef-)?[A-Za-z0-9][A-Za-z0-9.-]*\+?")
SPDX_COMMON = {"CC-BY-4.0", "CC0-1.0", "CC-BY-SA-4.0", "CC-BY-NC-4.0", "ODbL-1.0", "PDDL-1.0"}


def _clean_keywords(keywords: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for keyword in keywords:
        text = " ".join(str(keyword).split())
        if not text:
            continue
        if len(text) > 100:
            raise ValidationFailed(f"the keyword {text[:40]!r}... is longer than 100 characters")
        seen.setdefault(text.casefold(), text)
    return list(seen.values())


def _check_cross_references(
    emdb_ids: Sequence[str], empiar_id: str, publication_dois: Sequence[str]
) -> None:
    problems = []
    for value, validator, label in [
        *((v, EMDB_ID_VALIDATOR, "EMDB id") for v in emdb_ids),
        *(((empiar_id, EMPIAR_ID_VALIDATOR, "EMPIAR id"),) if empiar_id else ()),
        *((v, DOI_VALIDATOR, "DOI") for v in publication_dois),
    ]:
        try:
            validator(value)
        except DjangoValidationError as exc:
            problems.append(f"{label} {value!r}: {exc.messages[0]}")
    if problems:
        raise ValidationFailed("; ".join(problems))


def _check_visibility(visibility: str, embargo_until: dt.date | None) -> None:
    if visibility not in Visibility.values:
        raise ValidationFailed(f"visibility must be one of {', '.join(Visibility.values)}")
    if visibility == Visibility.EMBARGOED:
        if embargo_until is None:
            raise ValidationFailed("an embargoed dataset needs an embargo date")
        if embargo_until <= timezone.localdate():
            raise ValidationFailed(
                "the embargo date must be in the future (or make the dataset public)"
            )


@transaction.atomic
def dataset_create(
    *,
    actor: Any,
    title: str,
    facility: Facility,
    technique: str,
    kind: str = DatasetKind.RAW_SESSION,
    description: str = "",
    instrument: Instrument | None = None,
    project: Project | None = None,
    keywords: Iterable[str] = (),
    licence: str = "CC-BY-4.0",
    visibility: str = Visibility.PRIVATE,
    embargo_until: dt.date | None = None,
    emdb_ids: Sequence[str] = (),
    empiar_id: str = "",
    publication_dois: Sequence[str] = (),
    metadata: dict[str, Any] | None = None,
) -> Dataset:
    """Create a draft dataset for a facility. Only its staff, curators and admins may."""
    if not access.can_create_dataset(actor, facility):
        raise NotAllowed(
            f"you are not staff of {facility.name}, so you cannot create datasets there"
        )
    title = " ".join(title.split())
    if not title:
        raise ValidationFailed("a dataset needs a title")
    if technique not in Technique.values:
        raise ValidationFailed(f"technique must be one of {', '.join(Technique.values)}")
    if kind not in DatasetKind.values:
        raise ValidationFailed(f"kind must be one of {', '.join(DatasetKind.values)}")
    if instrument is not None and instrument.facility_id != facility.pk:
        raise ValidationFailed(
            f"the instrument {instrument.name} does not belong to {facility.name}"
        )
    if project is not None and project.facility_id != facility.pk:
        raise ValidationFailed(f"the project {project.title} is not run at {facility.name}")
    if len(licence) > 64 or not SPDX_ID.fullmatch(licence):
        raise ValidationFailed("licence must be an SPDX identifier such as CC-BY-4.0")
    _check_visibility(visibility, embargo_until)
    _check_cross_references(emdb_ids, empiar_id, publication_dois)
    if metadata:
        unstorable = text_problems(metadata)
        if unstorable:
            raise ValidationFailed(
                problems_summary(unstorable), details=problems_as_details(unstorable)
            )
        metadata = with_si_for_technique(metadata, technique)
    dataset = Dataset.objects.create(
        title=title,
        description=description.strip(),
        kind=kind,
        technique=technique,
        facility=facility,
        instrument=instrument,
        project=project,
        owner=actor,
        keywords=_clean_keywords(keywords),
        licence=licence,
        visibility=visibility,
        embargo_until=embargo_until if visibility == Visibility.EMBARGOED else None,
        emdb_ids=list(emdb_ids),
        empiar_id=empiar_id,
        publication_dois=list(publication_dois),
        metadata=metadata or {},
    )
    audit_record(actor=actor, action=AuditAction.CREATE, target=dataset, dataset=dataset)
    from . import versions

    versions.version_ensure_draft(dataset=dataset)
    # publishing reserves the concept DOI (a draft) when DOIs are on
    signals.dataset_created.send(sender=Dataset, dataset=dataset)
    return dataset


@transaction.atomic
def dataset_set_visibility(
    *, actor: Any, dataset: Dataset, visibility: str, embargo_until: dt.date | None = None
) -> Dataset:
    """Change who may see a dataset. Curators of its facility and admins only."""
    if not access.can_publish(actor, dataset):
        raise NotAllowed("only curators of the dataset's facility may change its visibility")
    _check_visibility(visibility, embargo_until)
    before = {"visibility": dataset.visibility, "embargo_until": _iso(dataset.embargo_until)}
    dataset.visibility = visibility
    dataset.embargo_until = embargo_until if visibility == Visibility.EMBARGOED else None
    dataset.save(update_fields=["visibility", "embargo_until", "modified"])
    audit_record(
        actor=actor,
        action=AuditAction.VISIBILITY,
        target=dataset,
        dataset=dataset,
        details={
            "before": before,
            "after": {"visibility": visibility, "embargo_until": _iso(dataset.embargo_until)},
        },
    )
    if dataset.status == DatasetStatus.PUBLISHED:
        # the DOIs' dates and rights follow
        signals.dataset_visibility_changed.send(sender=Dataset, dataset=dataset)
    return dataset


@transaction.atomic
def dataset_publish(
    *,
    actor: Any,
    dataset: Dataset,
    visibility: str = Visibility.PUBLIC,
    embargo_until: dt.date | None = None,
) -> Dataset:
    """Publish: the dataset becomes findable (public, or embargoed with public metadata), and
    its open draft is frozen as the next version (``repository.versions``)."""
    from . import versions

    if not access.can_publish(actor, dataset):
        raise NotAllowed("only curators of the dataset's facility may publish it")
    if visibility == Visibility.PRIVATE:
        raise ValidationFailed("a published dataset is public or embargoed, not private")
    if dataset.status == DatasetStatus.WITHDRAWN:
        raise Conflict(f"{dataset.pid} was withdrawn; it cannot be published again")
    if dataset.status == DatasetStatus.INGESTING:
        raise ValidationFailed(
            "the dataset is still being ingested; publish it when its files are ready"
        )
    _check_visibility(visibility, embargo_until)
    missing = versions.citation_fields_missing(dataset)
    if missing:
        raise ValidationFailed(
            "cannot publish: required citation fields are missing: " + ", ".join(missing),
            details={"missing": missing},
        )
    if versions.versions_published(dataset).exists() and versions.version_draft(dataset) is None:
        raise Conflict(
            f"{dataset.pid} is published and has no open draft: start a new version "
            "(POST .../versions/) to publish changes"
        )
    dataset_set_visibility(
        actor=actor, dataset=dataset, visibility=visibility, embargo_until=embargo_until
    )
    dataset.status = DatasetStatus.PUBLISHED
    dataset.published_at = dataset.published_at or timezone.now()
    dataset.save(update_fields=["status", "published_at", "modified"])
    version = versions.version_publish(actor=actor, dataset=dataset)
    # publishing sends the DOIs to DataCite after the commit
    signals.dataset_published.send(sender=Dataset, dataset=dataset, version=version)
    audit_record(
        actor=actor,
        action=AuditAction.PUBLISH,
        target=dataset,
        dataset=dataset,
        details={
            "visibility": visibility,
            "embargo_until": _iso(dataset.embargo_until),
            "version": version.number,
            "files": version.file_count,
        },
    )
    return dataset


def release_embargoes(*, today: dt.date | None = None) -> int:
    """Turn embargoed datasets whose date has come into public ones (access already treats
    them as open; this makes the stored state and the audit trail say so)."""
    today = today or timezone.localdate()
    released = 0
    due = Dataset.objects.filter(visibility=Visibility.EMBARGOED, embargo_until__lte=today)
    for dataset_id in due.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            dataset = (
                Dataset.objects.select_for_update()
                .filter(pk=dataset_id, visibility=Visibility.EMBARGOED, embargo_until__lte=today)
                .first()
            )
            if dataset is None:  # another beat run got there first
                continue
            until = dataset.embargo_until
            dataset.visibility = Visibility.PUBLIC
            dataset.save(update_fields=["visibility", "modified"])
            audit_record(
                actor=None,
                action=AuditAction.EMBARGO_RELEASED,
                target=dataset,
                dataset=dataset,
                details={"embargo_until": _iso(until)},
            )
            signals.dataset_visibility_changed.send(sender=Dataset, dataset=dataset)
            released += 1
    return released


def datafile_storage_key(dataset: Dataset) -> str:
    """Object keys are made from ids only; the user's path stays data."""
    return object_key("datasets", dataset.pid, "files", uuid.uuid4().hex)


def datafile_register(
    *, dataset: Dataset, path: str, size: int, expected_sha256: str = "", upload_session: Any = None
) -> DataFile:
    """Record a file that is about to be uploaded (state ``registered``)."""
    clean = sanitise_relative_path(path)
    if not isinstance(size, int) or size < 0:
        raise ValidationFailed(f"{clean}: size must be a whole number of bytes >= 0")
    expected = (expected_sha256 or "").lower()
    if expected and (len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected)):
        raise ValidationFailed(f"{clean}: sha256 must be 64 hexadecimal characters")
    if DataFile.objects.filter(dataset=dataset, path=clean).exists():
        raise ValidationFailed(f"{clean}: a file with this path is already in the dataset")
    directory, name = split_path(clean)
    return DataFile.objects.create(
        dataset=dataset,
        upload_session=upload_session,
        path=clean,
        directory=directory,
        name=name,
        size=size,
        storage_key=datafile_storage_key(dataset),
        expected_sha256=expected,
        state=FileState.REGISTERED,
    )


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None
