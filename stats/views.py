"""The coverage dashboard (/stats/): plots, the same numbers as tables, CSV and JSON."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from . import charts, dashboard

# The chart's own document may use style attributes (matplotlib's SVG), nothing else.
_SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


@require_safe
def stats_home(request: HttpRequest) -> HttpResponse:
    doc = dashboard.document()
    by_facility: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in doc["facilities"]:
        by_facility[row["facility"]].append(row)
    context = {
        "doc": doc,
        "facilities": [
            (name, rows, f"facility-{index}")
            for index, (name, rows) in enumerate(sorted(by_facility.items()))
        ],
        "tables": dashboard.TABLES,
    }
    return render(request, "stats/dashboard.html", context)


@require_safe
def stats_json(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(dashboard.document(), json_dumps_params={"indent": 1})
    response["Content-Disposition"] = 'attachment; filename="openem-stats.json"'
    return response


@require_safe
def stats_csv(request: HttpRequest, table: str) -> HttpResponse:
    if table not in dashboard.TABLES:
        raise Http404(f"No table {table!r}; tables: {', '.join(dashboard.TABLES)}")
    columns, rows = dashboard.table_rows(dashboard.document(), table)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows(rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="openem-{table}.csv"'
    return response


def _chart(doc: dict[str, Any], name: str) -> bytes:
    if name == "coverage":
        return charts.coverage_chart(
            doc["coverage"], title=f"EMDB entries funded in {doc['country']} and the portal's"
        )
    if name.startswith("facility-"):
        index = name.removeprefix("facility-")
        names = sorted({row["facility"] for row in doc["facilities"]})
        if not index.isdigit() or int(index) >= len(names):
            raise Http404("No such facility chart")
        facility = names[int(index)]
        rows = [row for row in doc["facilities"] if row["facility"] == facility]
        return charts.coverage_chart(rows, title=facility)
    if name == "storage":
        return charts.bar_chart(
            [row["facility"] for row in doc["storage"]],
            [row["bytes"] / 1e9 for row in doc["storage"]],
            title="Storage used per facility",
            unit="GB",
            horizontal=True,
        )
    if name == "ingest":
        return charts.bar_chart(
            [row["month"] for row in doc["ingest"]],
            [row["bytes"] / 1e9 for row in doc["ingest"]],
            title="Ingest volume per month",
            unit="GB",
        )
    if name == "formats":
        return charts.bar_chart(
            [row["format"] for row in doc["formats"]],
            [row["files"] for row in doc["formats"]],
            title="File formats",
            unit="files",
            horizontal=True,
        )
    if name == "completeness":
        return charts.bar_chart(
            [row["facility"] for row in doc["completeness"]],
            [100 * row["required_filled"] for row in doc["completeness"]],
            title="Required OSC-EM fields filled",
            unit="%",
            horizontal=True,
        )
    raise Http404("No such chart")


@require_safe
def stats_chart(request: HttpRequest, name: str) -> HttpResponse:
    response = HttpResponse(_chart(dashboard.document(), name), content_type="image/svg+xml")
    response["Content-Security-Policy"] = _SVG_POLICY
    response["Cache-Control"] = f"max-age={dashboard.CACHE_SECONDS}"
    return response
