"""The coverage dashboard's figures as one document (cached: they are sums over every file),
and its tables as CSV rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.cache import cache

from . import selectors

CACHE_KEY = "stats:dashboard:v1"
CACHE_SECONDS = 600

# table name -> (title, columns); rows come from the document's key of the same name
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "coverage": (
        "EMDB entries with raw data in EMPIAR, per year",
        ("year", "emdb_entries", "with_empiar", "ratio"),
    ),
    "facilities": (
        "Per facility and year",
        ("facility", "year", "datasets_published", "emdb_entries", "with_empiar", "ratio"),
    ),
    "storage": ("Storage used per facility", ("facility", "files", "bytes")),
    "ingest": ("Ingest volume per month", ("month", "files", "bytes")),
    "formats": ("File formats", ("format", "files", "bytes")),
    "completeness": (
        "OSC-EM metadata completeness per facility",
        ("facility", "datasets", "required_filled"),
    ),
}


def build() -> dict[str, Any]:
    coverage = selectors.coverage()
    national = [row.as_dict() for row in coverage.national]
    total = coverage.totals(coverage.national)
    return {
        "generated": dt.datetime.now(tz=dt.UTC).isoformat(timespec="seconds"),
        "country": coverage.country,
        "coverage": national,
        "coverage_total": total.as_dict() | {"year": "all"},
        "facilities": [
            {"facility": name, **row.as_dict()}
            for name, rows in coverage.facilities.items()
            for row in rows
        ],
        "storage": selectors.storage_by_facility(),
        "ingest": selectors.ingest_by_month(),
        "formats": selectors.file_formats(),
        "completeness": selectors.completeness_by_facility(),
    }


def document(*, fresh: bool = False) -> dict[str, Any]:
    if not fresh:
        cached = cache.get(CACHE_KEY)
        if cached is not None:
            return dict(cached)
    built = build()
    cache.set(CACHE_KEY, built, CACHE_SECONDS)
    return built


def forget() -> None:
    cache.delete(CACHE_KEY)


def table_rows(doc: dict[str, Any], table: str) -> tuple[tuple[str, ...], list[list[Any]]]:
    _, columns = TABLES[table]
    return columns, [[row.get(column, "") for column in columns] for row in doc[table]]
