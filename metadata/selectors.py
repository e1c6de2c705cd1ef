"""Reads of the schema registry: which schema applies to a dataset, versions, usage."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import QuerySet

from openem.errors import ValidationFailed

from .models import MetadataSchema, SchemaStatus, Technique

#: The built-in schema for each repository technique. Plain "tomography" uses cellular_tomo:
#: a tilt series needs the tomography acquisition fields (tilt angles, tilt axis), which the
#: general schema does not have, and in-situ/cellular work is what plain tomography sessions
#: at the facilities are; subtomogram averaging and environmental samples have their own.
SCHEMA_FOR_TECHNIQUE: dict[str, str] = {
    Technique.SPA: "spa",
    Technique.SUBTOMO: "subtomo",
    Technique.CELLULAR_TOMO: "cellular_tomo",
    Technique.ENV_TOMO: "env_tomo",
    Technique.TOMOGRAPHY: "cellular_tomo",
    Technique.MICROED: "general",
    Technique.OTHER: "general",
}
GENERAL_SCHEMA = "general"

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


def semver_key(version: str) -> tuple[Any, ...]:
    """A sort key for a semantic version (semver.org 2.0.0 precedence); ValidationFailed if
    ``version`` is not one."""
    match = _SEMVER.match(version or "")
    if not match:
        raise ValidationFailed(
            f"{version!r} is not a semantic version: use MAJOR.MINOR.PATCH such as 1.0.2"
        )
    major, minor, patch, pre = match.groups()
    if pre is None:
        return (int(major), int(minor), int(patch), 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (int(major), int(minor), int(patch), 0, parts)


def schema_name_for_technique(technique: str) -> str:
    return SCHEMA_FOR_TECHNIQUE.get(technique, GENERAL_SCHEMA)


def schema_get(*, name: str, version: str) -> MetadataSchema | None:
    return MetadataSchema.objects.filter(name=name, version=version).first()


def schemas_list(
    *, status: str | None = None, name: str | None = None, technique: str | None = None
) -> QuerySet[MetadataSchema]:
    """Schema versions by name, newest first; ``technique`` keeps those that list it (the
    registry holds tens of versions, so that test runs here rather than as a JSON lookup
    each database spells differently)."""
    queryset = MetadataSchema.objects.all()
    if status:
        queryset = queryset.filter(status=status)
    if name:
        queryset = queryset.filter(name=name)
    if technique:
        ids = [
            pk
            for pk, techniques in queryset.values_list("pk", "techniques")
            if isinstance(techniques, list) and technique in techniques
        ]
        queryset = queryset.filter(pk__in=ids)
    return queryset


def schema_latest_active(*, name: str, builtin: bool | None = None) -> MetadataSchema | None:
    """The active version of ``name`` with the highest semantic version."""
    queryset = MetadataSchema.objects.filter(name=name, status=SchemaStatus.ACTIVE)
    if builtin is not None:
        queryset = queryset.filter(builtin=builtin)
    candidates = list(queryset.defer("document"))
    if not candidates:
        return None
    best = max(candidates, key=lambda schema: semver_key(schema.version))
    return MetadataSchema.objects.get(pk=best.pk)


def schema_for_technique(technique: str) -> MetadataSchema | None:
    """The active built-in schema for a repository technique (see SCHEMA_FOR_TECHNIQUE)."""
    return schema_latest_active(name=schema_name_for_technique(technique), builtin=True)


def schema_for_dataset(dataset: Any) -> MetadataSchema | None:
    """The schema a dataset's metadata is checked against: the one it was last validated
    against while that version is active (a dataset stays on its version), otherwise the
    active built-in for its technique."""
    current = dataset.metadata_schema
    if current is not None and current.status == SchemaStatus.ACTIVE:
        return current
    return schema_for_technique(dataset.technique)


def schema_is_used(schema: MetadataSchema) -> bool:
    """A schema is used once a dataset references it; from then on it never changes."""
    return schema.datasets.exists()


def schema_usage_count(schema: MetadataSchema) -> int:
    return schema.datasets.count()
