"""Selectors behind the API's listings: search and filters over what a user may see.

Access always comes from ``repository.access``; this module narrows and orders. The dataset
search is a plain case-insensitive substring match for now, kept behind
:func:`dataset_search` so that PostgreSQL full-text search (a ``SearchVector`` over title,
description and keywords, with a GIN index) can replace it without touching the views.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from repository import access
from repository.models import (
    DataFile,
    Dataset,
    Facility,
    Instrument,
)

DATASET_ORDERINGS: dict[str, tuple[str, ...]] = {
    "newest": ("-created", "-pk"),
    "oldest": ("created", "pk"),
    "title": ("title", "pk"),
    "-title": ("-title", "-pk"),
}
MAX_SEARCH_TERMS = 10


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
    ordering: str = "newest"


def _start_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _json_text_forms(text: str) -> set[str]:
    """How ``text`` appears inside a JSON column's text: PostgreSQL's jsonb keeps non-ASCII
    characters, Django's JSON on SQLite stores them as \\u escapes."""
    return {json.dumps(text, ensure_ascii=False)[1:-1], json.dumps(text)[1:-1]}


def _keywords_contain(text: str, *, whole: bool) -> Q:
    query = Q()
    for form in _json_text_forms(text):
        query |= Q(keywords__icontains=f'"{form}"' if whole else form)
    return query


def _term_q(term: str) -> Q:
    return (
        Q(title__icontains=term)
        | Q(description__icontains=term)
        | _keywords_contain(term, whole=False)
    )


def dataset_search(*, user: Any, query: DatasetQuery) -> QuerySet[Dataset]:
    """The datasets ``user`` may see that match ``query``, ordered, ready to paginate."""
    datasets = access.datasets_visible_to(user).select_related(
        "facility", "instrument", "project", "metadata_schema"
    )
    terms = query.q.split()[:MAX_SEARCH_TERMS]
    for term in terms:  # every term must match somewhere
        datasets = datasets.filter(_term_q(term))
    if query.keyword:
        datasets = datasets.filter(_keywords_contain(query.keyword.strip(), whole=True))
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
    return datasets.order_by(*DATASET_ORDERINGS[query.ordering])


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
        files = files.filter(path__startswith=prefix)
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
