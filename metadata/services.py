"""Writes of datasets' metadata: validate and store the result, or change it (curators, forms).

``dataset.metadata`` is the OSC-EM document plus the portal's own ``_`` keys (see
:mod:`metadata.validation`); ``dataset.metadata_validation`` records the last check::

    {"valid": bool, "problems": [{"path", "message"}], "checked_at": iso, "schema": "spa 1.0.0"}
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from openem.errors import NotAllowed, NotFound, ValidationFailed
from repository import access
from repository.models import AuditAction, Dataset
from repository.services import audit_record

from . import selectors
from .fields import join_path, schema_fields
from .models import MetadataSchema
from .validation import (
    Problem,
    oscem_document,
    portal_keys,
    problems_as_details,
    problems_summary,
    validate_metadata,
    with_si_values,
)

MAX_AUDITED_PATHS = 50


def _schema_for(dataset: Dataset, schema: MetadataSchema | None) -> MetadataSchema:
    chosen = schema or selectors.schema_for_dataset(dataset)
    if chosen is None:
        raise NotFound(
            f"no active metadata schema for technique {dataset.technique!r}: "
            "run 'manage.py load_builtin_schemas'"
        )
    return chosen


def _validation_record(problems: list[Problem], schema: MetadataSchema) -> dict[str, Any]:
    return {
        "valid": not problems,
        "problems": problems_as_details(problems),
        "checked_at": timezone.now().isoformat(),
        "schema": f"{schema.name} {schema.version}",
    }


@transaction.atomic
def dataset_validate_metadata(
    dataset: Dataset, *, schema: MetadataSchema | None = None
) -> dict[str, Any]:
    """Check the stored metadata against the dataset's schema (or ``schema``) and record the
    result and the schema on the dataset. Nothing else changes; returns the record."""
    chosen = _schema_for(dataset, schema)
    locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
    problems = validate_metadata(oscem_document(locked.metadata or {}), chosen)
    record = _validation_record(problems, chosen)
    Dataset.objects.filter(pk=dataset.pk).update(
        metadata_validation=record, metadata_schema=chosen, modified=timezone.now()
    )
    dataset.metadata_validation, dataset.metadata_schema = record, chosen
    return record


def _leaves(document: Any, path: str = "") -> dict[str, Any]:
    if isinstance(document, dict) and document:
        leaves: dict[str, Any] = {}
        for key, value in document.items():
            leaves.update(_leaves(value, join_path(path, str(key))))
        return leaves
    if isinstance(document, list) and document:
        leaves = {}
        for index, value in enumerate(document):
            leaves.update(_leaves(value, join_path(path, index)))
        return leaves
    return {path: document}


def changed_paths(before: Any, after: Any) -> list[str]:
    """The leaf paths whose value differs (for the audit trail)."""
    old, new = _leaves(before), _leaves(after)
    return sorted(path for path in old.keys() | new.keys() if old.get(path) != new.get(path))


@transaction.atomic
def with_si_for_technique(document: dict[str, Any], technique: str) -> dict[str, Any]:
    """``document`` with ``valueSI``/``unitSI`` on every quantity the technique's schema gives
    them, as the metadata form stores it: range searches compare those (a document without a
    schema for its technique is returned as it is)."""
    schema = selectors.schema_for_technique(technique)
    if schema is None:
        return document
    result: dict[str, Any] = with_si_values(document, schema_fields(schema.document))
    return result


def dataset_update_metadata(*, actor: Any, dataset: Dataset, metadata: dict[str, Any]) -> Dataset:
    """Replace a dataset's OSC-EM document (insiders only, see repository.access.can_edit).

    Quantities get ``valueSI``/``unitSI`` where the schema has them. An invalid document raises
    ValidationFailed with every problem in ``details`` and nothing is stored. The portal's
    ``_`` keys (provenance of extracted values) are kept from the stored metadata.
    """
    if not access.can_edit(actor, dataset):
        raise NotAllowed(
            "only the dataset's owner, project members and facility staff may edit its metadata"
        )
    if not isinstance(metadata, dict):
        raise ValidationFailed("metadata must be a JSON object")
    schema = _schema_for(dataset, None)
    document = with_si_values(oscem_document(metadata), schema_fields(schema.document))
    problems = validate_metadata(document, schema)
    if problems:
        raise ValidationFailed(problems_summary(problems), details=problems_as_details(problems))
    locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
    before = oscem_document(locked.metadata or {})
    locked.metadata = {**document, **portal_keys(locked.metadata or {})}
    locked.metadata_schema = schema
    locked.metadata_validation = _validation_record([], schema)
    locked.save(update_fields=["metadata", "metadata_schema", "metadata_validation", "modified"])
    changed = changed_paths(before, document)
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=locked,
        dataset=locked,
        details={
            "what": "metadata",
            "schema": f"{schema.name} {schema.version}",
            "changed": changed[:MAX_AUDITED_PATHS],
            "changed_count": len(changed),
        },
    )
    dataset.metadata = locked.metadata
    dataset.metadata_schema = schema
    dataset.metadata_validation = locked.metadata_validation
    return dataset
