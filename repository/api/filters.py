"""Selectors behind the API's listings: search and filters over what a user may see.

Access always comes from ``repository.access``; this module narrows and orders. Words and the
metadata ranges match as on the search page (``repository.search``: ranked full text on
PostgreSQL); metadata conditions are those of ``metadata.search`` (unit-aware).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Func, JSONField, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from metadata.search import Condition, metadata_filter
from repository import access, search
from repository.models import (
    DataFile,
    Dataset,
    Facility,
    Instrument,
)
from repository.paths import starts_with

RELEVANCE = "relevance"
DATASET_ORDERINGS: dict[str, tuple[Any, ...]] = {
    RELEVANCE: ("-rank", "-created", "-pk"),  # with words; without, the same as newest
    "newest": ("-created", "-pk"),
    "oldest": ("created", "pk"),
    "title": (Lower("title"), "pk"),  # the title index (search migration)
    "-title": (Lower("title").desc(), "-pk"),
}


@dataclass(frozen=True)
class DatasetQuery:
    """What a dataset listing asks for; every field is optional."""

    q: str = ""
    facility: str = ""
    instrument: int | None = None
    project: str = ""
    technique: str = ""
    kind: str = ""
    visibility: str = ""
    status: str = ""
    keyword: str = ""
    created_after: dt.date | None = None
    created_before: dt.date | None = None
    ordering: str = ""
    #: ``(key, low, high)`` of ``repository.search.RANGES`` (pixel size, voltage, dose)
    ranges: tuple[tuple[str, float | None, float | None], ...] = ()
    metadata: tuple[Condition, ...] = ()

    @property
    def effective_ordering(self) -> str:
        if self.ordering:
            return self.ordering
        return RELEVANCE if self.q.strip() else "newest"


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


def dataset_search(*, user: Any, query: DatasetQuery) -> QuerySet[Dataset]:
    """The datasets ``user`` may see that match ``query``, ordered, ready to paginate."""
    datasets, rank = search.text_search(access.datasets_visible_to(user), query.q)
    datasets = datasets.select_related("facility", "instrument", "project", "metadata_schema")
    if query.ranges:
        datasets = datasets.filter(*search.range_filters(query.ranges))
    if query.metadata:
        datasets = metadata_filter(datasets, query.metadata)
    if query.keyword:
        datasets = _with_keyword(datasets, query.keyword.strip())
    if query.facility:
        datasets = datasets.filter(facility__slug=query.facility)
    if query.instrument is not None:
        datasets = datasets.filter(instrument_id=query.instrument)
    if query.project:
        datasets = datasets.filter(project__code=query.project)
    exact = {
        "technique": query.technique,
        "kind": query.kind,
        "visibility": query.visibility,
        "status": query.status,
    }
    datasets = datasets.filter(**{field: value for field, value in exact.items() if value})
    if query.created_after is not None:
        datasets = datasets.filter(created__gte=_start_of_day(query.created_after))
    if query.created_before is not None:
        next_day = query.created_before + dt.timedelta(days=1)
        datasets = datasets.filter(created__lt=_start_of_day(next_day))
    ordering = query.effective_ordering
    if ordering == RELEVANCE:
        if rank is None:  # no words, or no ranking (SQLite): newest first
            return datasets.order_by(*DATASET_ORDERINGS["newest"])
        datasets = datasets.annotate(rank=rank)
    return datasets.order_by(*DATASET_ORDERINGS[ordering])


def dataset_count(*, user: Any, query: DatasetQuery) -> int:
    """How many datasets :func:`dataset_search` finds. Without words, ranges or filters the
    facet cells do not hold, from the cells where they can say (a few thousand rows, not every
    dataset; see ``repository.search.count_from_cells``)."""
    cell_filters = {
        "status": query.status,
        "visibility": query.visibility,
        "technique": query.technique,
        "instrument_id": query.instrument,
    }
    countable = not (
        query.q.strip()
        or query.ranges
        or query.metadata
        or query.keyword
        or query.project
        or query.kind
        or query.created_after
        or query.created_before
    )
    if countable:
        exact = {column: value for column, value in cell_filters.items() if value}
        if query.facility:
            facility_id = Facility.objects.filter(slug=query.facility).values_list("pk", flat=True)
            exact["facility_id"] = next(iter(facility_id), 0)
        counted = search.count_from_cells(user, exact)
        if counted is not None:
            return counted
    return dataset_search(user=user, query=query).count()


def dataset_count_cache_key(*, user: Any, query: DatasetQuery) -> str:
    """Where the count of ``query``'s matches is kept while a client pages (per user: what
    one may see differs from another; the ordering does not change the count)."""
    who = f"user:{user.pk}" if getattr(user, "is_authenticated", False) else "anonymous"
    asked = {name: value for name, value in dataclasses.asdict(query).items() if name != "ordering"}
    digest = hashlib.sha256(f"{who}|{json.dumps(asked, sort_keys=True, default=str)}".encode())
    return f"openem:api:datasets:count:{digest.hexdigest()}"


def dataset_facets(*, user: Any, query: DatasetQuery) -> dict[str, list[dict[str, Any]]]:
    """The search page's facet counts for the part of ``query`` they take into account (the
    input serializer refuses facets together with any other filter)."""
    chosen = [
        (name, (value,))
        for name, value in (
            ("technique", query.technique),
            ("facility", query.facility),
            ("visibility", query.visibility),
        )
        if value
    ]
    params = search.SearchParams(q=query.q, filters=tuple(chosen), ranges=query.ranges)
    return {
        facet.name: [
            {"value": v.value, "label": v.label, "count": v.count, "selected": v.selected}
            for v in facet.values
        ]
        for facet in search.search_facets(user=user, params=params)
    }


def dataset_visible(*, user: Any, pid: str) -> Dataset | None:
    """One dataset by its PID, if ``user`` may see it."""
    return (
        access.datasets_visible_to(user)
        .select_related("facility", "instrument", "project", "metadata_schema")
        .filter(pid=pid)
        .first()
    )


def datafiles_of(
    *, dataset: Dataset, prefix: str = "", file_format: str = "", state: str = ""
) -> QuerySet[DataFile]:
    """A dataset's files, narrowed; ordering is the paginator's (path or id, both indexed)."""
    files = DataFile.objects.filter(dataset=dataset)
    if prefix:
        files = files.filter(starts_with("path", prefix))
    if file_format:
        files = files.filter(format=file_format)
    if state:
        files = files.filter(state=state)
    return files


def datafile_of(*, dataset: Dataset, file_id: int) -> DataFile | None:
    return DataFile.objects.filter(dataset=dataset, pk=file_id).select_related("dataset").first()


def facilities() -> QuerySet[Facility]:
    return Facility.objects.order_by("name")


def instruments(*, facility: str = "") -> QuerySet[Instrument]:
    found = Instrument.objects.select_related("facility").order_by("facility__name", "name", "pk")
    return found.filter(facility__slug=facility) if facility else found
