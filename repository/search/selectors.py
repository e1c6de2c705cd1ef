"""The searches, one query type for the pages and the API, always over what
``repository.access`` lets the user see:

- :func:`dataset_search`: the matching datasets, ordered, ready to paginate (the API's list);
- :func:`dataset_facets`: the facet counts alone (the home page, the API's ``facets=true``);
- :func:`dataset_count`: how many match, from the facet cells where they can say;
- :func:`search_page`: one page of the search page, with its facets and total, counted and
  (sorted by relevance) ranked in one pass.

The counts of a search are cached for a few seconds, so that paging and re-sorting reuse
them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.core.cache import cache
from django.db.models import DateTimeField, ExpressionWrapper, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Lower

from openem.errors import ValidationFailed

from .. import access
from ..models import Dataset, Facility
from .cells import count_from_cells
from .columns import uses_full_text
from .facets import Counts, Facet, facet_counts, facet_filters, facets_of
from .filters import other_filters
from .query import PAGE_SIZE, DatasetQuery, Dated, Sort
from .ranges import range_conditions
from .results import SearchResult, active_filters
from .text import text_filter

#: How long facet counts are reused for the same search (paging, sorting).
FACETS_CACHE_SECONDS = 30


@dataclass(frozen=True)
class _Matching:
    """What a query matches: ``narrowed`` by everything but its facet values (what the
    facets count), the facet ``filters``, the rank of the words (None without ranking) and
    the labels of the ranges applied."""

    narrowed: QuerySet[Dataset]
    filters: Mapping[str, Q]
    rank: Any
    range_labels: Mapping[str, str]

    @property
    def matched(self) -> QuerySet[Dataset]:
        return self.narrowed.filter(*self.filters.values()) if self.filters else self.narrowed


def _matching(user: Any, query: DatasetQuery, messages: list[str] | None) -> _Matching:
    """``messages``: where a range bound the metadata module refuses is named (and left
    out); None: such a bound raises ValidationFailed (the API answers 400)."""
    texted, rank = text_filter(access.datasets_visible_to(user), query.q)
    problems: list[str] = []
    conditions, range_labels = range_conditions(query.ranges, problems)
    if problems and messages is None:
        raise ValidationFailed("; ".join(problems))
    if messages is not None:
        messages.extend(problems)
    narrowed = other_filters(texted.filter(*conditions) if conditions else texted, query)
    return _Matching(narrowed, facet_filters(query), rank, range_labels)


def dataset_search(*, user: Any, query: DatasetQuery) -> QuerySet[Dataset]:
    """The datasets ``user`` may see that match ``query``, ordered, ready to paginate."""
    found = _matching(user, query, None)
    ordered = _ordered(found.matched, query, found.rank)
    return ordered.select_related("facility", "instrument", "project", "metadata_schema")


def dataset_facets(*, user: Any, query: DatasetQuery) -> list[Facet]:
    """The facet counts of a search alone, without a page of datasets; from the same cache
    as the search page's."""
    found = _matching(user, query, [])
    counts, _total, _ids = _cached_counts(user, query, found, rank=None)
    return facets_of(counts, query)


def dataset_count(*, user: Any, query: DatasetQuery) -> int:
    """How many datasets :func:`dataset_search` finds. For a query of at most one value of
    the facets the cells hold (and a status), from the cells (a few thousand rows, not every
    dataset; see ``cells.count_from_cells``)."""
    exact = _cell_filters(query)
    if exact is not None:
        counted = count_from_cells(user, exact)
        if counted is not None:
            return counted
    return dataset_search(user=user, query=query).count()


#: The facets whose single value a cell column holds.
_CELL_FACETS = {"technique": "technique", "visibility": "visibility", "instrument": "instrument_id"}


def _cell_filters(query: DatasetQuery) -> dict[str, Any] | None:
    """The columns and values of the facet cells ``query`` asks for, or None when it asks
    for more than the cells can tell apart."""
    chosen = dict(query.filters)
    if replace(query, status="").narrows or any(len(values) > 1 for values in chosen.values()):
        return None
    if set(chosen) - {*_CELL_FACETS, "facility"}:
        return None
    exact: dict[str, Any] = {"status": query.status} if query.status else {}
    for name, column in _CELL_FACETS.items():
        if name in chosen:
            value = chosen[name][0]
            exact[column] = (
                (int(value) if value.isdigit() else 0) if name == "instrument" else value
            )
    if "facility" in chosen:
        found = Facility.objects.filter(slug=chosen["facility"][0]).values_list("pk", flat=True)
        exact["facility_id"] = next(iter(found), 0)
    return exact


def dataset_count_cache_key(*, user: Any, query: DatasetQuery) -> str:
    """Where the count of ``query``'s matches is kept while a client pages (the order and
    the page do not change it)."""
    return _cache_key("openem:api:datasets:count:", user, query)


def search_page(*, user: Any, query: DatasetQuery) -> SearchResult:
    """One page of the datasets ``user`` may see that match ``query``, with facet counts."""
    messages: list[str] = []
    found = _matching(user, query, messages)
    # Ranked by relevance, the page needs every match read and ranked, as the counts do:
    # both come from the same pass over the matches.
    ranked = found.rank if query.effective_sort == Sort.RELEVANCE else None
    counts, total, ids = _cached_counts(user, query, found, rank=ranked)
    if total is None:
        total = found.matched.count()
    page = min(query.page, max(1, math.ceil(total / PAGE_SIZE)))
    if page != query.page:
        query, ids = query.with_page(page), None
    offset = (page - 1) * PAGE_SIZE
    if ids is None:
        # Ids first (the listing, title or facet index gives them without reading the wide
        # rows), then the rows of the page.
        ordered = _ordered(found.matched, query, found.rank)
        ids = list(ordered.values_list("pk", flat=True)[offset : offset + PAGE_SIZE])
    rows = Dataset.objects.select_related("facility", "instrument").in_bulk(ids)
    facets = facets_of(counts, query)
    return SearchResult(
        params=query,
        datasets=[rows[pk] for pk in ids if pk in rows],
        total=total,
        facets=facets,
        active=active_filters(query, facets, found.range_labels),
        messages=messages,
        full_text=uses_full_text(),
    )


def _cached_counts(
    user: Any, query: DatasetQuery, found: _Matching, *, rank: Any
) -> tuple[dict[str, Counts], int | None, list[int] | None]:
    """Facet counts and total from the cache, else counted (and, with ``rank``, the ids of
    the page, from the same pass; None when they came from the cache)."""
    key = _cache_key("openem:search:facets:", user, query)
    cached = cache.get(key)
    if cached is not None:
        counts, total = cached
        return counts, total, None
    counts, total, ids = facet_counts(
        found.narrowed, found.filters, user=user, query=query, rank=rank
    )
    cache.set(key, (counts, total), FACETS_CACHE_SECONDS)
    return counts, total, ids


#: What neither the counts nor the facets of a query depend on.
_UNCOUNTED = frozenset({"sort", "dated", "page"})


def _cache_key(prefix: str, user: Any, query: DatasetQuery) -> str:
    """Counts do not change with the page or the order: paging and re-sorting reuse them
    for a short while. Per user, as what one may see differs from another."""
    who = f"user:{user.pk}" if getattr(user, "is_authenticated", False) else "anonymous"
    asked = {
        field.name: getattr(query, field.name)
        for field in dataclasses.fields(query)
        if field.name not in _UNCOUNTED
    }
    what = json.dumps(asked, sort_keys=True, default=str)
    return prefix + hashlib.sha256(f"{who}|{what}".encode()).hexdigest()


def _ordered(queryset: QuerySet[Dataset], query: DatasetQuery, rank: Any) -> QuerySet[Dataset]:
    """Sorted by ``query.effective_sort``: relevance needs a ``rank`` (else newest first),
    newest and oldest by the date ``query.dated`` names."""
    sort = query.effective_sort
    if sort == Sort.RELEVANCE and rank is not None:
        return queryset.annotate(rank=rank).order_by("-rank", "-created", "-pk")
    if sort == Sort.TITLE:
        return queryset.order_by(Lower("title"), "pk")
    if sort == Sort.TITLE_DESCENDING:
        return queryset.order_by(Lower("title").desc(), "-pk")
    oldest = sort == Sort.OLDEST
    if query.dated == Dated.CREATED:
        return queryset.order_by(*(("created", "pk") if oldest else ("-created", "-pk")))
    listed: Any = Coalesce("published_at", "created")
    if query.year and uses_full_text():
        # The chosen years sit somewhere along the listing order, not at its start: walking
        # the listing index would read all newer datasets first. Sorting the few matches is
        # cheaper, so the expression is made not to match that index.
        listed = ExpressionWrapper(listed + Value(dt.timedelta(0)), output_field=DateTimeField())
    queryset = queryset.annotate(listed=listed)
    return queryset.order_by(*(("listed", "pk") if oldest else ("-listed", "-pk")))
