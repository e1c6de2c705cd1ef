"""OpenAPI documentation of the usage statistics API (``stats.api``): long descriptions per
operation."""

from __future__ import annotations

DATASETS_USAGE = (
    "COUNTER Code of Practice for Research Data figures of the dataset, all "
    "versions together, people and scripts, robots left out: views are investigations, "
    "downloads are requests; totals and per month. Updated by the periodic aggregation."
)

STATS_REPORT = (
    "A COUNTER dataset report (Make Data Count's SUSHI JSON: report-header, "
    "report-datasets with performance per month and access method) for the datasets you "
    "may see."
)
