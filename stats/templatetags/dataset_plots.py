"""``{% dataset_plots dataset can_list_files %}``: the landing page's plots panel."""

from __future__ import annotations

from typing import Any

from django import template

from stats import dataset_plots as plots

register = template.Library()


@register.inclusion_tag("repository/_plots.html")
def dataset_plots(dataset: Any, with_files: bool) -> dict[str, Any]:
    return {"dataset": dataset, "plots": plots.dataset_plots(dataset, with_files=bool(with_files))}
