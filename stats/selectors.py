"""Reads of the statistics app: a dataset's usage, the monthly COUNTER report, and the figures of
the coverage dashboard (EMDB maps with raw data in EMPIAR, storage, ingest, formats,
metadata completeness)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncMonth

from metadata.fields import Field, Kind, schema_fields
from repository import access
from repository.models import DataFile, Dataset

from .models import DatasetUsageDaily, EmdbEntry

METRICS = (
    ("total-dataset-investigations", "investigations"),
    ("unique-dataset-investigations", "unique_investigations"),
    ("total-dataset-requests", "requests"),
    ("unique-dataset-requests", "unique_requests"),
)


@dataclass(frozen=True)
class Usage:
    views: int = 0
    unique_views: int = 0
    downloads: int = 0
    unique_downloads: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "views": self.views,
            "unique_views": self.unique_views,
            "downloads": self.downloads,
            "unique_downloads": self.unique_downloads,
        }


def dataset_usage(dataset: Dataset) -> Usage:
    """All-time COUNTER totals of a dataset (all its versions, people and scripts), from the
    daily aggregates: views = investigations, downloads = requests."""
    totals = DatasetUsageDaily.objects.filter(dataset=dataset).aggregate(
        views=Sum("investigations"),
        unique_views=Sum("unique_investigations"),
        downloads=Sum("requests"),
        unique_downloads=Sum("unique_requests"),
    )
    return Usage(**{key: int(value or 0) for key, value in totals.items()})


def dataset_usage_by_month(dataset: Dataset) -> list[dict[str, Any]]:
    rows = (
        DatasetUsageDaily.objects.filter(dataset=dataset)
        .annotate(month=TruncMonth("day"))
        .values("month")
        .annotate(
            views=Sum("investigations"),
            unique_views=Sum("unique_investigations"),
            downloads=Sum("requests"),
            unique_downloads=Sum("unique_requests"),
        )
        .order_by("month")
    )
    return [
        {
            "month": row["month"].strftime("%Y-%m"),
            **{
                key: int(row[key] or 0)
                for key in ("views", "unique_views", "downloads", "unique_downloads")
            },
        }
        for row in rows
    ]


def emdb_entries_of(dataset: Dataset) -> list[EmdbEntry]:
    """The imported EMDB entries of the dataset's EMDB ids (what the archives know of them)."""
    if not dataset.emdb_ids:
        return []
    return list(EmdbEntry.objects.filter(emdb_id__in=dataset.emdb_ids))


def _month_end(month: dt.date) -> dt.date:
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)


def usage_report(*, user: Any, begin: dt.date, end: dt.date) -> dict[str, Any]:
    """A COUNTER/SUSHI dataset report (Make Data Count's shape) for the datasets ``user`` may see,
    one performance entry per month and access method."""
    visible = access.datasets_visible_to(user).values("id")
    rows = (
        DatasetUsageDaily.objects.filter(dataset_id__in=visible, day__gte=begin, day__lte=end)
        .annotate(month=TruncMonth("day"))
        .values("dataset_id", "dataset__pid", "dataset__title", "machine", "month")
        .annotate(**{column: Sum(column) for _, column in METRICS})
        .order_by("dataset__pid", "month", "machine")
    )
    datasets: dict[int, dict[str, Any]] = {}
    for row in rows.iterator():
        values: dict[str, Any] = dict(row)
        entry = datasets.setdefault(
            row["dataset_id"],
            {
                "dataset-id": [{"type": "pid", "value": row["dataset__pid"]}],
                "dataset-title": row["dataset__title"],
                "data-type": "dataset",
                "platform": "OpenEM",
                "performance": [],
            },
        )
        month = row["month"]
        entry["performance"].append(
            {
                "period": {
                    "begin-date": month.isoformat(),
                    "end-date": _month_end(month).isoformat(),
                },
                "access-method": "machine" if row["machine"] else "regular",
                "instance": [
                    {"metric-type": metric, "count": int(values[column] or 0)}
                    for metric, column in METRICS
                ],
            }
        )
    return {
        "report-header": {
            "report-name": "dataset report",
            "report-id": "DSR",
            "release": "rd1",
            "created": dt.datetime.now(tz=dt.UTC).isoformat(timespec="seconds"),
            "created-by": "OpenEM portal",
            "reporting-period": {"begin-date": begin.isoformat(), "end-date": end.isoformat()},
            "report-filters": [],
            "report-attributes": [],
            "exceptions": [],
        },
        "report-datasets": list(datasets.values()),
    }


# ---------------------------------------------------------------------------------------------
# Coverage dashboard


def published_datasets() -> QuerySet[Dataset]:
    """What the dashboard counts: the datasets anyone may see (published, public or embargoed)."""
    return access.datasets_visible_to(AnonymousUser())


@dataclass
class CoverageRow:
    year: int
    emdb: int = 0
    with_empiar: int = 0
    datasets: int = 0

    @property
    def ratio(self) -> float | None:
        return self.with_empiar / self.emdb if self.emdb else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "datasets_published": self.datasets,
            "emdb_entries": self.emdb,
            "with_empiar": self.with_empiar,
            "ratio": round(self.ratio, 4) if self.ratio is not None else None,
        }


@dataclass
class Coverage:
    country: str
    national: list[CoverageRow] = field(default_factory=list)
    facilities: dict[str, list[CoverageRow]] = field(default_factory=dict)

    def totals(self, rows: Iterable[CoverageRow]) -> CoverageRow:
        total = CoverageRow(year=0)
        for row in rows:
            total.emdb += row.emdb
            total.with_empiar += row.with_empiar
            total.datasets += row.datasets
        return total


def _year(value: dt.date | dt.datetime) -> int:
    return value.year


def coverage(*, country: str | None = None) -> Coverage:
    """EMDB entries and how many have raw data in EMPIAR, per year: nationally (the imported
    list's entries funded by ``country`` plus the portal's own EMDB ids) and per facility (the
    portal's published datasets). An EMDB id has raw data in EMPIAR when the imported list names
    an EMPIAR entry for it, or a portal dataset carrying that EMDB id has an EMPIAR id."""
    country = country or settings.OPENEM_STATS_COUNTRY
    portal = list(
        published_datasets().values_list(
            "facility__name", "published_at", "created", "emdb_ids", "empiar_id"
        )
    )
    empiar_by_emdb: dict[str, bool] = defaultdict(bool)
    portal_year: dict[str, int] = {}
    for _, published_at, created, emdb_ids, empiar_id in portal:
        for emdb_id in emdb_ids or []:
            empiar_by_emdb[emdb_id] |= bool(empiar_id)
            portal_year.setdefault(emdb_id, _year(published_at or created))
    imported = {entry.emdb_id: entry for entry in EmdbEntry.objects.all()}
    for emdb_id, entry in imported.items():
        empiar_by_emdb[emdb_id] |= bool(entry.empiar_ids)

    wanted = country.casefold()
    national: dict[int, CoverageRow] = {}
    counted: set[str] = set()
    for emdb_id, entry in imported.items():
        if any(str(name).casefold() == wanted for name in entry.funding_countries):
            row = national.setdefault(
                entry.deposition_date.year, CoverageRow(year=entry.deposition_date.year)
            )
            row.emdb += 1
            row.with_empiar += empiar_by_emdb[emdb_id]
            counted.add(emdb_id)
    for emdb_id, published_year in portal_year.items():
        if emdb_id in counted:
            continue
        known = imported.get(emdb_id)
        year = known.deposition_date.year if known else published_year
        row = national.setdefault(year, CoverageRow(year=year))
        row.emdb += 1
        row.with_empiar += empiar_by_emdb[emdb_id]

    facilities: dict[str, dict[int, CoverageRow]] = defaultdict(dict)
    seen: dict[str, set[str]] = defaultdict(set)
    for facility, published_at, created, emdb_ids, _ in portal:
        year = _year(published_at or created)
        row = facilities[facility].setdefault(year, CoverageRow(year=year))
        row.datasets += 1
        for emdb_id in emdb_ids or []:
            if emdb_id in seen[facility]:
                continue
            seen[facility].add(emdb_id)
            row.emdb += 1
            row.with_empiar += empiar_by_emdb[emdb_id]
    return Coverage(
        country=country,
        national=[national[year] for year in sorted(national)],
        facilities={
            name: [rows[year] for year in sorted(rows)] for name, rows in sorted(facilities.items())
        },
    )


def storage_by_facility() -> list[dict[str, Any]]:
    rows = (
        DataFile.objects.values("dataset__facility__name")
        .annotate(files=Count("id"), bytes=Sum("size"))
        .order_by("dataset__facility__name")
    )
    return [
        {
            "facility": row["dataset__facility__name"],
            "files": row["files"],
            "bytes": int(row["bytes"] or 0),
        }
        for row in rows
    ]


def ingest_by_month(*, months: int = 24, today: dt.date | None = None) -> list[dict[str, Any]]:
    today = today or dt.date.today()
    start = (today.replace(day=1) - dt.timedelta(days=31 * (months - 1))).replace(day=1)
    rows = (
        DataFile.objects.filter(created__date__gte=start)
        .annotate(month=TruncMonth("created"))
        .values("month")
        .annotate(files=Count("id"), bytes=Sum("size"))
        .order_by("month")
    )
    return [
        {
            "month": row["month"].strftime("%Y-%m"),
            "files": row["files"],
            "bytes": int(row["bytes"] or 0),
        }
        for row in rows
    ]


def file_formats() -> list[dict[str, Any]]:
    rows = (
        DataFile.objects.values("format")
        .annotate(files=Count("id"), bytes=Sum("size"))
        .order_by("-files", "format")
    )
    return [
        {"format": row["format"] or "other", "files": row["files"], "bytes": int(row["bytes"] or 0)}
        for row in rows
    ]


def _required_leaves(node: Field) -> list[Field]:
    """The fields a valid document must fill: required all the way from the root."""
    leaves: list[Field] = []
    for child in node.children:
        if not child.required:
            continue
        if child.kind is Kind.OBJECT and child.children:
            leaves.extend(_required_leaves(child))
        else:
            leaves.append(child)
    return leaves


def _filled(document: Any, path: str) -> bool:
    value = document
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return value not in (None, "", [], {})


def completeness(dataset_metadata: dict[str, Any], schema_document: dict[str, Any]) -> float:
    """The share of the schema's required fields that the metadata fills (1.0 with none)."""
    leaves = _required_leaves(schema_fields(schema_document))
    if not leaves:
        return 1.0
    return sum(_filled(dataset_metadata, leaf.path) for leaf in leaves) / len(leaves)


def completeness_by_facility() -> list[dict[str, Any]]:
    shares: dict[str, list[float]] = defaultdict(list)
    datasets = (
        published_datasets()
        .filter(metadata_schema__isnull=False)
        .select_related("metadata_schema", "facility")
        .only("metadata", "facility__name", "metadata_schema__document")
    )
    for dataset in datasets.iterator(chunk_size=500):
        schema = dataset.metadata_schema
        assert schema is not None
        shares[dataset.facility.name].append(completeness(dataset.metadata, schema.document))
    return [
        {
            "facility": name,
            "datasets": len(values),
            "required_filled": round(sum(values) / len(values), 4),
        }
        for name, values in sorted(shares.items())
    ]
