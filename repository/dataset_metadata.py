"""Writes of a dataset's metadata document: validate and store the result, replace it (API),
save what the metadata form posted (curators).

``dataset.metadata`` is the OSC-EM document plus the portal's own ``_`` keys (see
:mod:`metadata.validation`); ``dataset.metadata_validation`` records the last check::

    {"valid": bool, "problems": [{"path", "message"}], "warnings": [{"path", "message"}],
     "checked_at": iso, "schema": "spa 1.0.0"}
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from metadata import selectors
from metadata.fields import join_path, schema_fields, split_path
from metadata.identifiers import identifier_warnings
from metadata.models import MetadataSchema
from metadata.validation import (
    PROVENANCE_KEY,
    Problem,
    is_missing,
    oscem_document,
    portal_keys,
    problems_as_details,
    problems_summary,
    validate_metadata,
    with_si_values,
)
from openem.errors import NotAllowed, NotFound, ValidationFailed

from . import access
from .audit import audit_record
from .models import AuditAction, Dataset

MAX_AUDITED_PATHS = 50


def _schema_for(dataset: Dataset, schema: MetadataSchema | None) -> MetadataSchema:
    chosen = schema or selectors.schema_for_dataset(dataset)
    if chosen is None:
        raise NotFound(
            f"no active metadata schema for technique {dataset.technique!r}: "
            "run 'manage.py load_builtin_schemas'"
        )
    return chosen


def _validation_record(
    problems: list[Problem], schema: MetadataSchema, document: Any = None
) -> dict[str, Any]:
    """``warnings``: identifiers that are not what they claim (metadata.identifiers); they
    never make a document invalid."""
    return {
        "valid": not problems,
        "problems": problems_as_details(problems),
        "warnings": problems_as_details(identifier_warnings(document or {})),
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
    record = _validation_record(problems, chosen, locked.metadata)
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
    locked.metadata_validation = _validation_record([], schema, document)
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


# ---------------------------------------------------------------------------------------------
# The metadata form: keep what was entered and valid, list what is still to do

#: Rounds of "revert what was refused, check again" (a reverted value can uncover another).
_MAX_REVERT_ROUNDS = 5
_QUANTITY_PARTS = ("value", "unit", "valueSI", "unitSI")


@dataclass
class MetadataSave:
    """What :func:`dataset_save_metadata` did: ``refused`` are the entered values that were not
    stored (each with why); ``todo`` what the stored document still lacks or has wrong for its
    schema (a to-do for publication and deposition, not a reason to refuse the rest)."""

    dataset: Dataset
    changed: list[str] = field(default_factory=list)
    refused: list[Problem] = field(default_factory=list)
    todo: list[Problem] = field(default_factory=list)

    @property
    def missing(self) -> list[Problem]:
        return [problem for problem in self.todo if is_missing(problem)]


_ABSENT = object()


def _get(document: Any, parts: list[str | int]) -> Any:
    node = document
    for part in parts:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return _ABSENT
            node = node[part]
        else:
            if not isinstance(node, dict) or part not in node:
                return _ABSENT
            node = node[part]
    return node


def _put(document: Any, parts: list[str | int], value: Any) -> None:
    """Set (or, with ``_ABSENT``, remove) the value at ``parts``; a missing parent is only
    created for a value to set."""
    node = document
    for depth, part in enumerate(parts[:-1]):
        child = _get(node, [part])
        if child is _ABSENT:
            if value is _ABSENT:
                return
            child = [] if isinstance(parts[depth + 1], int) else {}
            if isinstance(part, int):
                return  # a row that is not there any more: nothing to put it in
            node[part] = child
        node = child
    last = parts[-1]
    if isinstance(last, int):
        if isinstance(node, list) and last < len(node):
            if value is _ABSENT:
                node.pop(last)
            else:
                node[last] = value
        return
    if not isinstance(node, dict):
        return
    if value is _ABSENT:
        node.pop(last, None)
    else:
        node[last] = value


def _value_path(problem_path: str) -> list[str | int]:
    """The value a problem is about: a quantity as a whole (value and unit go together)."""
    parts = split_path(problem_path)
    if parts and parts[-1] in _QUANTITY_PARTS:
        parts = parts[:-1]
    return parts


def _related(path: str, changed: set[str]) -> bool:
    def under(inner: str, outer: str) -> bool:
        return not outer or inner == outer or inner.startswith((outer + ".", outer + "["))

    return any(under(leaf, path) or under(path, leaf) for leaf in changed)


def _mark_edited(provenance: Any, changed: list[str]) -> Any:
    """Extracted values a curator changed stay attributed to their file, marked as edited."""
    if not isinstance(provenance, dict):
        return provenance
    marked = dict(provenance)
    # SI values are recomputed on every save: a new rounding of them is no curator's edit.
    changed = [path for path in changed if not path.endswith((".valueSI", ".unitSI"))]
    for key, entry in provenance.items():
        if any(path == key or path.startswith((key + ".", key + "[")) for path in changed):
            record = dict(entry) if isinstance(entry, dict) else {"file": str(entry)}
            record["edited"] = True
            marked[key] = record
    return marked


@transaction.atomic
def dataset_save_metadata(
    *, actor: Any, dataset: Dataset, metadata: dict[str, Any]
) -> MetadataSave:
    """Store what the metadata form posted, as far as it is valid (insiders only).

    Unlike :func:`dataset_update_metadata` (the API's all-or-nothing replace), a curator's
    valid values are kept even while other values are missing: each entered value the schema
    refuses is put back as it was and reported in ``refused``; what the document still lacks
    (or what was wrong before this save, such as a value read from an instrument file) never
    blocks the save and is reported in ``todo``, and recorded in ``metadata_validation``.
    """
    if not access.can_edit(actor, dataset):
        raise NotAllowed(
            "only the dataset's owner, project members and facility staff may edit its metadata"
        )
    if not isinstance(metadata, dict):
        raise ValidationFailed("metadata must be a JSON object")
    schema = _schema_for(dataset, None)
    fields = schema_fields(schema.document)
    locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
    stored = locked.metadata or {}
    before = oscem_document(stored)
    document = with_si_values(oscem_document(copy.deepcopy(metadata)), fields)
    refused: list[Problem] = []
    problems = validate_metadata(document, schema)
    for _ in range(_MAX_REVERT_ROUNDS):
        changed = set(changed_paths(before, document))
        wrong = [p for p in problems if not is_missing(p) and _related(p.path, changed)]
        if not wrong:
            break
        for problem in wrong:
            parts = _value_path(problem.path)
            if not parts:
                continue
            previous = _get(before, parts)
            _put(document, parts, previous if previous is _ABSENT else copy.deepcopy(previous))
        refused.extend(wrong)
        problems = validate_metadata(document, schema)
    changed_list = changed_paths(before, document)
    result = MetadataSave(dataset=dataset, changed=changed_list, refused=refused, todo=problems)
    if not changed_list:
        return result
    portal = portal_keys(stored)
    if PROVENANCE_KEY in portal:
        portal[PROVENANCE_KEY] = _mark_edited(portal[PROVENANCE_KEY], changed_list)
    locked.metadata = {**document, **portal}
    locked.metadata_schema = schema
    locked.metadata_validation = _validation_record(problems, schema, document)
    locked.save(update_fields=["metadata", "metadata_schema", "metadata_validation", "modified"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=locked,
        dataset=locked,
        details={
            "what": "metadata",
            "schema": f"{schema.name} {schema.version}",
            "changed": changed_list[:MAX_AUDITED_PATHS],
            "changed_count": len(changed_list),
            "still_to_do": len(problems),
        },
    )
    dataset.metadata = locked.metadata
    dataset.metadata_schema = schema
    dataset.metadata_validation = locked.metadata_validation
    return result
