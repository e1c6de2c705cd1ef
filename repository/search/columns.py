"""The columns PostgreSQL generates on the dataset table for search (migration 0004), as
query expressions, and whether this database searches them at all (:func:`uses_full_text`).

They are deliberately not model fields: SQLite (the embedded default) has none of them, and
the search falls back to the model's own fields there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.postgres.search import SearchVectorField
from django.db import connection
from django.db.models import Expression, F, IntegerField, TextField
from django.db.models.functions import Coalesce, ExtractYear

DOCUMENT_COLUMN = "search_document"
DETECTORS_COLUMN = "search_detectors"
YEAR_COLUMN = "search_year"


def uses_full_text() -> bool:
    """PostgreSQL: ranked full text, generated columns, facet cells. SQLite: none of them."""
    return connection.vendor == "postgresql"


class GeneratedColumn(Expression):
    """``<dataset alias>.<column>``: a column PostgreSQL generates from the row (migration
    0004), which is deliberately not a model field. It is reached through the dataset's
    primary-key column, which keeps the right table alias when the query is nested."""

    def __init__(self, column: str, output_field: Any) -> None:
        super().__init__(output_field=output_field)
        self.column = column
        self.pk: Any = F("pk")

    def get_source_expressions(self) -> list[Any]:
        return [self.pk]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.pk,) = exprs

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        alias = compiler.quote_name_unless_alias(self.pk.alias)
        return f"{alias}.{connection.ops.quote_name(self.column)}", []


def SearchDocument() -> GeneratedColumn:  # noqa: N802 - reads as the expression it builds
    return GeneratedColumn(DOCUMENT_COLUMN, SearchVectorField())


def Detectors() -> GeneratedColumn:  # noqa: N802
    """The detector names as JSON text (PostgreSQL)."""
    return GeneratedColumn(DETECTORS_COLUMN, TextField())


def listed_year() -> Any:
    """The year a dataset is listed under: when it was published (created, for drafts);
    on PostgreSQL the generated column of migration 0004, which the facet index holds."""
    if uses_full_text():
        return GeneratedColumn(YEAR_COLUMN, IntegerField())
    return ExtractYear(Coalesce("published_at", "created"))
