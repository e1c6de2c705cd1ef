"""Template tags of the statistics app: a dataset's usage on its page, percentages."""

from __future__ import annotations

from typing import Any

from django import template

from stats.selectors import dataset_usage, emdb_entries_of

register = template.Library()


@register.filter
def percent(value: Any) -> str:
    if value is None or value == "":
        return "–"
    return f"{100 * float(value):.1f} %"


@register.inclusion_tag("stats/_usage.html")
def usage_summary(dataset: Any) -> dict[str, Any]:
    return {
        "usage": dataset_usage(dataset),
        "dataset": dataset,
        "emdb_entries": emdb_entries_of(dataset),
    }
