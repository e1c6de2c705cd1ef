"""Schema-driven transforms of OSC-EM documents that need the registry (the writes of a
dataset's metadata are :mod:`repository.dataset_metadata`'s)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from . import selectors
from .fields import schema_fields
from .validation import with_si_values


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
