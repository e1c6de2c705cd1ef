"""The searches: one page of the datasets a user may see that match a query, with its facet
counts (the search and home pages), and the facet counts alone (the API's ``facets=true``),
always over what ``repository.access`` lets the user see.

The counts of a search are cached for a few seconds, so that paging and re-sorting reuse
them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from django.core.cache import cache
from django.db.models import DateTimeField, ExpressionWrapper, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Lower

from .. import access
from ..models import Dataset
from .columns import uses_full_text
from .facets import Counts, Facet, facet_counts, facet_filters, facets_of
from .query import PAGE_SIZE, SearchParams, Sort
from .ranges import range_conditions
from .results import SearchResult, active_filters
from .text import text_filter

#: How long facet counts are reused for the same search (paging, sorting).
FACETS_CACHE_SECONDS = 30


def search_datasets(*, user: Any, params: SearchParams, with_facets: bool = True) -> SearchResult:
    """One page of the datasets ``user`` may see that match ``params``, with facet counts."""
    messages: list[str] = []
    narrowed, rank, range_labels = _narrowed(user, params, messages)
    filters = facet_filters(params)
    matched = narrowed.filter(*filters.values()) if filters else narrowed
    counts: dict[str, Counts] = {}
    total: int | None = None
    ids: list[int] | None = None
    if with_facets:
        # Ranked by relevance, the page needs every match read and ranked, as the counts
        # do: both come from the same pass over the matches.
        ranked = rank if params.effective_sort == Sort.RELEVANCE else None
        counts, total, ids = _cached_counts(user, params, narrowed, filters, rank=ranked)
    if total is None:
        total = matched.count()
    page = min(params.page, max(1, math.ceil(total / PAGE_SIZE)))
    if page != params.page:
        params, ids = params.with_page(page), None
    offset = (page - 1) * PAGE_SIZE
    if ids is None:
        # Ids first (the listing, title or facet index gives them without reading the wide
        # rows), then the rows of the page.
        ordered = _ordered(matched, params, rank)
        ids = list(ordered.values_list("pk", flat=True)[offset : offset + PAGE_SIZE])
    rows = Dataset.objects.select_related("facility", "instrument").in_bulk(ids)
    facets = facets_of(counts, params) if with_facets else []
    return SearchResult(
        params=params,
        datasets=[rows[pk] for pk in ids if pk in rows],
        total=total,
        facets=facets,
        active=active_filters(params, facets, range_labels),
        messages=messages,
        full_text=uses_full_text(),
    )


def search_facets(*, user: Any, params: SearchParams) -> list[Facet]:
    """The facet counts of a search alone (the API's ``facets=true``), without a page of
    datasets; from the same cache as the search page's."""
    narrowed, _rank, _labels = _narrowed(user, params, [])
    filters = facet_filters(params)
    counts, _total, _ids = _cached_counts(user, params, narrowed, filters, rank=None)
    return facets_of(counts, params)


def _narrowed(
    user: Any, params: SearchParams, messages: list[str]
) -> tuple[QuerySet[Dataset], Any, dict[str, str]]:
    """What ``user`` may see, narrowed by the words and ranges of ``params`` (not yet by its
    facet filters); with the rank expression and the labels of the ranges applied."""
    texted, rank = text_filter(access.datasets_visible_to(user), params.q)
    conditions, range_labels = range_conditions(params.ranges, messages)
    return (texted.filter(*conditions) if conditions else texted), rank, range_labels


def _cached_counts(
    user: Any,
    params: SearchParams,
    narrowed: QuerySet[Dataset],
    filters: Mapping[str, Q],
    *,
    rank: Any,
) -> tuple[dict[str, Counts], int | None, list[int] | None]:
    """Facet counts and total from the cache, else counted (and, with ``rank``, the ids of
    the page, from the same pass; None when they came from the cache)."""
    key = _facets_cache_key(user, params)
    cached = cache.get(key)
    if cached is not None:
        counts, total = cached
        return counts, total, None
    counts, total, ids = facet_counts(narrowed, filters, user=user, params=params, rank=rank)
    cache.set(key, (counts, total), FACETS_CACHE_SECONDS)
    return counts, total, ids


def _facets_cache_key(user: Any, params: SearchParams) -> str:
    """Facet counts do not change with the page or the sort: paging and re-sorting reuse
    them for a short while. Per user, as what one may see differs from another."""
    who = f"user:{user.pk}" if getattr(user, "is_authenticated", False) else "anonymous"
    what = json.dumps([params.q, params.filters, params.ranges], sort_keys=True, default=str)
    return "openem:search:facets:" + hashlib.sha256(f"{who}|{what}".encode()).hexdigest()


def _ordered(queryset: QuerySet[Dataset], params: SearchParams, rank: Any) -> QuerySet[Dataset]:
    sort = params.effective_sort
    if sort == Sort.RELEVANCE and rank is not None:
        return queryset.annotate(rank=rank).order_by("-rank", "-created", "-pk")
    if sort == Sort.TITLE:
        return queryset.order_by(Lower("title"), "pk")
    listed: Any = Coalesce("published_at", "created")
    if params.values("year") and uses_full_text():
        # The chosen years sit somewhere along the listing order, not at its start: walking
        # the listing index would read all newer datasets first. Sorting the few matches is
        # cheaper, so the expression is made not to match that index.
        listed = ExpressionWrapper(listed + Value(dt.timedelta(0)), output_field=DateTimeField())
    return queryset.annotate(listed=listed).order_by("-listed", "-pk")
