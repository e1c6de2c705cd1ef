"""A page of search results as the search page shows it: the datasets, their total, the
facets, the filters applied (each with the link that removes it), the pager and the sort
links, every link the shareable URL of a search.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..models import Dataset
from .facets import Facet, fallback_label
from .query import FACET_LABELS, MAX_PAGE, PAGE_SIZE, DatasetQuery, Sort


@dataclass(frozen=True)
class ActiveFilter:
    label: str
    remove_url: str


@dataclass
class SearchResult:
    params: DatasetQuery
    datasets: list[Dataset]
    total: int
    facets: list[Facet]
    active: list[ActiveFilter]
    messages: list[str] = field(default_factory=list)
    full_text: bool = False

    @property
    def pages(self) -> int:
        return max(1, min(MAX_PAGE, math.ceil(self.total / PAGE_SIZE)))

    @property
    def first_index(self) -> int:
        return (self.params.page - 1) * PAGE_SIZE + 1 if self.total else 0

    @property
    def last_index(self) -> int:
        return min(self.total, self.params.page * PAGE_SIZE)

    @property
    def page_links(self) -> list[tuple[int | None, str]]:
        """(page, url) for a compact pager: first, a window around the current page, last;
        ``None`` marks a gap."""
        current, last = self.params.page, self.pages
        wanted = sorted({1, last, *range(max(1, current - 2), min(last, current + 2) + 1)})
        links: list[tuple[int | None, str]] = []
        previous = 0
        for number in wanted:
            if number - previous > 1:
                links.append((None, ""))
            links.append((number, self.params.with_page(number).url()))
            previous = number
        return links

    @property
    def previous_url(self) -> str | None:
        return self.params.with_page(self.params.page - 1).url() if self.params.page > 1 else None

    @property
    def next_url(self) -> str | None:
        if self.params.page < self.pages:
            return self.params.with_page(self.params.page + 1).url()
        return None

    @property
    def sort_links(self) -> list[tuple[str, str, bool, str]]:
        """(value, label, selected, url); relevance only makes sense with a query."""
        current = self.params.effective_sort
        return [
            (value, label, value == current, self.params.with_sort(value).url())
            for value, label in Sort.CHOICES
            if value != Sort.RELEVANCE or self.params.q
        ]


def active_filters(
    params: DatasetQuery, facets: Sequence[Facet], range_labels: Mapping[str, str]
) -> list[ActiveFilter]:
    labels = {(f.name, v.value): v.label for f in facets for v in f.values}
    active = []
    if params.q:
        active.append(ActiveFilter(f"“{params.q}”", replace(params, q="", page=1, sort="").url()))
    for name, values in params.filters:
        for value in values:
            label = labels.get((name, value)) or fallback_label(name, value)
            active.append(
                ActiveFilter(f"{FACET_LABELS[name]}: {label}", params.toggled(name, value).url())
            )
    for key, label in range_labels.items():
        active.append(ActiveFilter(label, params.without_range(key).url()))
    return active
