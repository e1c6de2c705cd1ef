"""Selectors behind the API's listings of files, facilities and instruments, and its one
dataset by PID, over what a user may see (``repository.access``). The dataset list searches
with ``repository.search``, as the search page does.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from repository import access
from repository.models import (
    DataFile,
    Dataset,
    Facility,
    Instrument,
)
from repository.paths import starts_with


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
