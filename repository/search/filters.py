"""The filters of a query besides its words, ranges and facets: curation status, kind,
project, a whole keyword, creation dates and metadata conditions (``metadata.search``,
unit-aware). The API's dataset list offers them; no facet counts them.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.db import connection
from django.db.models import Func, JSONField, Q, QuerySet
from django.utils import timezone

from metadata.search import metadata_filter

from ..models import Dataset
from .query import DatasetQuery


def other_filters(datasets: QuerySet[Dataset], query: DatasetQuery) -> QuerySet[Dataset]:
    """``datasets`` narrowed by the filters of ``query`` this module is for."""
    if query.metadata:
        datasets = metadata_filter(datasets, query.metadata)
    if query.keyword:
        datasets = _with_keyword(datasets, query.keyword.strip())
    if query.project:
        datasets = datasets.filter(project__code=query.project)
    exact = {"kind": query.kind, "status": query.status}
    datasets = datasets.filter(**{field: value for field, value in exact.items() if value})
    if query.created_after is not None:
        datasets = datasets.filter(created__gte=_start_of_day(query.created_after))
    if query.created_before is not None:
        next_day = query.created_before + dt.timedelta(days=1)
        datasets = datasets.filter(created__lt=_start_of_day(next_day))
    return datasets


def _start_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _json_text_forms(text: str) -> set[str]:
    """How ``text`` appears inside a JSON column's text: PostgreSQL's jsonb keeps non-ASCII
    characters, Django's JSON on SQLite stores them as \\u escapes."""
    return {json.dumps(text, ensure_ascii=False)[1:-1], json.dumps(text)[1:-1]}


class LowerKeywords(Func):
    """``lower(keywords::text)::jsonb``: the keywords in lower case, as the GIN index of
    migration 0008 holds them (PostgreSQL)."""

    template = "lower((%(expressions)s)::text)::jsonb"
    output_field = JSONField()


def _with_keyword(datasets: QuerySet[Dataset], keyword: str) -> QuerySet[Dataset]:
    """Datasets carrying ``keyword`` as a whole keyword, in any case."""
    if connection.vendor == "postgresql":
        wanted: Any = [keyword.lower()]  # a JSON array: containment (@>), not text
        return datasets.alias(keywords_lower=LowerKeywords("keywords")).filter(
            keywords_lower__contains=wanted
        )
    return datasets.filter(_keywords_contain(keyword, whole=True))


def _keywords_contain(text: str, *, whole: bool) -> Q:
    query = Q()
    for form in _json_text_forms(text):
        query |= Q(keywords__icontains=f'"{form}"' if whole else form)
    return query
