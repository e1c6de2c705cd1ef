"""Reads with rules. Access filtering always comes from ``repository.access``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from . import access
from .models import DataFile, Dataset, DatasetStatus, Facility, FileState, Instrument


def recent_datasets(*, user: Any, limit: int = 6) -> QuerySet[Dataset]:
    return (
        access.datasets_visible_to(user)
        .filter(status=DatasetStatus.PUBLISHED)
        .select_related("facility", "instrument")
        .order_by("-published_at", "-created")[:limit]
    )


def portal_counts(*, user: Any) -> dict[str, int]:
    """Headline numbers for the home page, over what ``user`` may see."""
    visible = access.datasets_visible_to(user)
    files = DataFile.objects.filter(dataset__in=visible.values("pk"))
    totals = files.aggregate(files=Count("pk"), bytes=Sum("size"))
    return {
        "datasets": visible.count(),
        "files": totals["files"] or 0,
        "bytes": totals["bytes"] or 0,
        "facilities": Facility.objects.count(),
        "instruments": Instrument.objects.count(),
    }


def _impossible_pid(pid: str) -> bool:
    """No dataset has such an identifier (and PostgreSQL refuses NUL in a query)."""
    return "\x00" in pid or len(pid) > 200


def dataset_for_user(*, user: Any, pid: str) -> Dataset | None:
    if _impossible_pid(pid):
        return None
    return (
        access.datasets_visible_to(user)
        .select_related("facility", "instrument", "project", "owner")
        .filter(pid=pid)
        .first()
    )


def dataset_tombstone(*, pid: str) -> Dataset | None:
    """A withdrawn dataset that was published (public or embargoed): its identifier answers
    410 with the citation metadata, to anyone."""
    return (
        Dataset.objects.select_related("facility", "instrument", "project", "owner")
        .filter(pid=pid, status=DatasetStatus.WITHDRAWN, versions__isnull=False)
        .exclude(visibility="private")
        .distinct()
        .first()
    )


def dataset_file_page(*, dataset: Dataset, directory: str = "", limit: int = 100) -> list[DataFile]:
    """One page of a folder of the file browser (uses the (dataset, directory, name) index)."""
    return list(
        DataFile.objects.filter(dataset=dataset, directory=directory).order_by("name")[:limit]
    )


def dataset_file_progress(*, dataset: Dataset) -> dict[str, int]:
    """Files and bytes per state: the ingest progress the UI and API show."""
    rows = (
        DataFile.objects.filter(dataset=dataset)
        .values("state")
        .annotate(n=Count("pk"), b=Sum("size"))
    )
    progress = {f"{state}_files": 0 for state in FileState.values} | {
        f"{state}_bytes": 0 for state in FileState.values
    }
    for row in rows:
        progress[f"{row['state']}_files"] = row["n"]
        progress[f"{row['state']}_bytes"] = row["b"] or 0
    progress["total_files"] = sum(progress[f"{s}_files"] for s in FileState.values)
    progress["total_bytes"] = sum(progress[f"{s}_bytes"] for s in FileState.values)
    return progress


def facilities_with_counts() -> QuerySet[Facility]:
    return Facility.objects.annotate(
        public_datasets=Count("datasets", filter=Q(datasets__status=DatasetStatus.PUBLISHED))
    )


def in_path_pages(
    rows: QuerySet[Any, Any], *, chunk_size: int, path_of: Callable[[Any], str]
) -> Iterator[Any]:
    """Every row of ``rows`` (one dataset's files, ordered by path), read in keyset pages
    along the (dataset, path) index: the first row after one query, memory flat, and no
    transaction held open while a slow client reads. (Not ``.iterator()``: outside a
    transaction Django declares its cursor WITH HOLD, and PostgreSQL then materialises every
    row before the first, 1.5 s for 10^6 files.) ``path_of`` reads a row's path."""
    page = list(rows[:chunk_size])
    while page:
        yield from page
        if len(page) < chunk_size:
            return
        page = list(rows.filter(path__gt=path_of(page[-1]))[:chunk_size])
