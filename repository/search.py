"""Dataset search for the portal's pages: full-text query, facets with counts, metadata range
filters, sort and pagination, always over what ``repository.access`` lets the user see.

- PostgreSQL: ranked full-text search on ``repository_dataset.search_document``, a stored
  generated ``tsvector`` column with a GIN index (migration 0004, :data:`DOCUMENT_SQL`) over
  the title and keywords (weight A), authors and sample (B), microscope, detectors and
  description (C). ``websearch_to_tsquery`` syntax: ``"exact phrase"``, ``or``, ``-word``.
  A dataset also matches when its instrument (name, manufacturer, model) matches the query,
  and a query that is a PID finds that dataset.
- SQLite (the embedded default): every word must occur, case-insensitively, in one of the
  same fields (no ranking: relevance falls back to newest first).

Facets are disjunctive: the counts of one facet are computed with every filter except its own,
so that choosing a second value of a facet widens (OR) the result, as the counts promise. On
PostgreSQL they are counted in one pass (``GROUPING SETS``), and the total with them:

- without words or ranges (the home page, browsing by facets), from the per-combination cells
  of migration 0005 (datasets per status, visibility and facet values, kept exact by triggers)
  for what everyone may see, plus the user's own other datasets from the facet index;
- with words or ranges, over the matching datasets (the covering facet index of migration
  0004 holds the year, detector and SI columns); words sorted by relevance are read and ranked
  once, for the counts and the page together.

The counts of a search are cached for a few seconds, so that paging and re-sorting reuse
them. Range filters (pixel size, voltage, dose) are unit-aware conditions of
:mod:`metadata.search` (on PostgreSQL, the same bounds on the generated SI columns, each with
a covering index of its own, migration 0006).
The parsed request is a :class:`SearchParams`; its :meth:`~SearchParams.url` is what makes a
result page shareable: the same URL gives the same result to anyone allowed to see it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import AnonymousUser
from django.contrib.postgres.search import (
    SearchQuery,
    SearchRank,
    SearchVector,
    SearchVectorExact,
    SearchVectorField,
)
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import (
    Count,
    DateTimeField,
    DecimalField,
    Expression,
    ExpressionWrapper,
    F,
    IntegerField,
    JSONField,
    Lookup,
    Q,
    QuerySet,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Coalesce, ExtractYear, Lower
from django.db.models.lookups import GreaterThanOrEqual, In, LessThanOrEqual
from django.http import QueryDict

from metadata import units
from metadata.search import REL_TOLERANCE, Condition, condition_filters
from metadata.validation import pint_unit
from openem.errors import ValidationFailed

from . import access
from .models import Dataset, DatasetStatus, Facility, Instrument, Technique, Visibility

PAGE_SIZE = 20
#: Deeper pages than this are refused with a message (narrow the search instead): OFFSET
#: pagination is cheap near the top and the result count tells how much there is.
MAX_PAGE = 500
MAX_QUERY_LENGTH = 200
MAX_VALUES_PER_FACET = 20
FACET_SHOWN = 12
SEARCH_CONFIG = "english"
#: How long facet counts are reused for the same search (paging, sorting).
FACETS_CACHE_SECONDS = 30
DOCUMENT_COLUMN = "search_document"
DETECTORS_COLUMN = "search_detectors"
YEAR_COLUMN = "search_year"

#: The generated column of migration 0004 (the same text: a test compares them).
DOCUMENT_SQL = """
setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(keywords, '[]'::jsonb), '["string"]'::jsonb), 'A')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(metadata #> '{organizational,authors}', '[]'::jsonb), '["string"]'::jsonb), 'B')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(metadata -> 'sample', '{}'::jsonb), '["string"]'::jsonb), 'B')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(metadata #> '{instrument,microscope}', '{}'::jsonb), '["string"]'::jsonb), 'C')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(metadata #> '{acquisition,detectors}', '[]'::jsonb), '["string"]'::jsonb), 'C')
|| setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')
""".strip()


class Sort:
    RELEVANCE = "relevance"
    NEWEST = "newest"
    TITLE = "title"
    CHOICES = ((RELEVANCE, "Relevance"), (NEWEST, "Newest first"), (TITLE, "Title A-Z"))


@dataclass(frozen=True)
class RangeSpec:
    """A metadata quantity offered as a min/max filter, in the unit the form shows."""

    key: str
    field: str
    label: str
    unit: str
    unit_label: str

    @property
    def si_column(self) -> str:
        """Its generated SI column on PostgreSQL (migration 0004)."""
        return f"search_{self.key}_si"


RANGES: tuple[RangeSpec, ...] = (
    RangeSpec("pixel_size", "acquisition.pixel_size", "Pixel size", "Å", "Å"),
    RangeSpec("voltage", "instrument.acceleration_voltage", "Voltage", "kV", "kV"),
    RangeSpec("dose", "acquisition.dose_per_movie", "Dose", "e/Å^2", "e⁻/Å²"),
)
RANGE_BY_KEY = {spec.key: spec for spec in RANGES}

FACETS: tuple[tuple[str, str], ...] = (
    ("technique", "Technique"),
    ("facility", "Facility"),
    ("instrument", "Instrument"),
    ("detector", "Detector"),
    ("year", "Year"),
    ("licence", "Licence"),
    ("visibility", "Visibility"),
)
FACET_LABELS = dict(FACETS)


@dataclass(frozen=True)
class SearchParams:
    """One search as asked for in a URL; immutable, so building links never changes it."""

    q: str = ""
    sort: str = ""
    page: int = 1
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    ranges: tuple[tuple[str, float | None, float | None], ...] = ()

    # -- reading a request -------------------------------------------------------------------

    @classmethod
    def from_query(cls, data: QueryDict | Mapping[str, Any]) -> tuple[SearchParams, list[str]]:
        """Parse a query string leniently: what cannot be understood is dropped and named in
        the returned messages, so a hand-edited URL still gives a page, never an error."""
        problems: list[str] = []
        getlist = data.getlist if isinstance(data, QueryDict) else _mapping_getlist(data)
        q = " ".join(str(data.get("q") or "").split())
        if len(q) > MAX_QUERY_LENGTH:
            problems.append(f"The search text was cut to {MAX_QUERY_LENGTH} characters.")
            q = q[:MAX_QUERY_LENGTH]
        sort = str(data.get("sort") or "")
        if sort and sort not in dict(Sort.CHOICES):
            problems.append(f"Unknown sort order {sort[:30]!r}; showing the default order.")
            sort = ""
        page = _positive_int(data.get("page"), default=1)
        if page > MAX_PAGE:
            problems.append(
                f"Only the first {MAX_PAGE} pages can be shown; narrow the search with "
                "the filters instead."
            )
            page = MAX_PAGE
        filters = []
        for name, _label in FACETS:
            values = tuple(dict.fromkeys(v.strip() for v in getlist(name) if v and v.strip()))
            if len(values) > MAX_VALUES_PER_FACET:
                problems.append(f"At most {MAX_VALUES_PER_FACET} values per filter are used.")
                values = values[:MAX_VALUES_PER_FACET]
            if values:
                filters.append((name, values))
        ranges = []
        for spec in RANGES:
            low = _number(data.get(f"{spec.key}_min"), spec, "minimum", problems)
            high = _number(data.get(f"{spec.key}_max"), spec, "maximum", problems)
            if low is not None and high is not None and low > high:
                problems.append(f"{spec.label}: the minimum is above the maximum; swapped them.")
                low, high = high, low
            if low is not None or high is not None:
                ranges.append((spec.key, low, high))
        return cls(
            q=q, sort=sort, page=page, filters=tuple(filters), ranges=tuple(ranges)
        ), problems

    # -- what it asks for ----------------------------------------------------------------------

    @property
    def effective_sort(self) -> str:
        if self.sort:
            return self.sort
        return Sort.RELEVANCE if self.q else Sort.NEWEST

    def values(self, facet: str) -> tuple[str, ...]:
        return dict(self.filters).get(facet, ())

    def range(self, key: str) -> tuple[float | None, float | None]:
        for name, low, high in self.ranges:
            if name == key:
                return low, high
        return None, None

    @property
    def is_filtered(self) -> bool:
        return bool(self.q or self.filters or self.ranges)

    # -- shareable URLs --------------------------------------------------------------------------

    def query_pairs(self) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        if self.q:
            pairs.append(("q", self.q))
        for name, values in self.filters:
            pairs.extend((name, value) for value in values)
        for key, low, high in self.ranges:
            if low is not None:
                pairs.append((f"{key}_min", _format_number(low)))
            if high is not None:
                pairs.append((f"{key}_max", _format_number(high)))
        if self.sort:
            pairs.append(("sort", self.sort))
        if self.page > 1:
            pairs.append(("page", str(self.page)))
        return pairs

    def url(self) -> str:
        """The query string of this search (with a leading ``?``, or empty)."""
        pairs = self.query_pairs()
        return "?" + urlencode(pairs) if pairs else "?"

    def toggled(self, facet: str, value: str) -> SearchParams:
        current = self.values(facet)
        values = tuple(v for v in current if v != value) if value in current else (*current, value)
        filters = tuple((n, v) for n, v in self.filters if n != facet)
        if values:
            filters = tuple(sorted((*filters, (facet, values)), key=_facet_order))
        return replace(self, filters=filters, page=1)

    def without_range(self, key: str) -> SearchParams:
        return replace(self, ranges=tuple(r for r in self.ranges if r[0] != key), page=1)

    def with_page(self, page: int) -> SearchParams:
        return replace(self, page=page)

    def with_sort(self, sort: str) -> SearchParams:
        return replace(self, sort=sort, page=1)


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool
    url: str


@dataclass(frozen=True)
class Facet:
    name: str
    label: str
    values: list[FacetValue]

    @property
    def shown(self) -> list[FacetValue]:
        """The most frequent values, plus any selected one further down the list."""
        top = self.values[:FACET_SHOWN]
        return top + [v for v in self.values[FACET_SHOWN:] if v.selected]

    @property
    def hidden_count(self) -> int:
        return max(0, len(self.values) - len(self.shown))


@dataclass(frozen=True)
class ActiveFilter:
    label: str
    remove_url: str


@dataclass
class SearchResult:
    params: SearchParams
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


# ---------------------------------------------------------------------------------------------
# The search


def uses_full_text() -> bool:
    return connection.vendor == "postgresql"


class GeneratedColumn(Expression):
    """``<dataset alias>.<column>``: a column PostgreSQL generates from the row (migration
    0004), which is deliberately not a model field. It is reached through the dataset's
    primary-key column, which keeps the right table alias when the query is nested."""

    def __init__(self, column: str, output_field: Any) -> None:
        super().__init__(output_field=output_field)
        self.column = column
        self.pk: Any = F("pk")

    def get_source_expressions(self) -> list[Any]:
        return [self.pk]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.pk,) = exprs

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        alias = compiler.quote_name_unless_alias(self.pk.alias)
        return f"{alias}.{connection.ops.quote_name(self.column)}", []


def SearchDocument() -> GeneratedColumn:  # noqa: N802 - reads as the expression it builds
    return GeneratedColumn(DOCUMENT_COLUMN, SearchVectorField())


def Detectors() -> GeneratedColumn:  # noqa: N802
    """The detector names as JSON text (PostgreSQL)."""
    return GeneratedColumn(DETECTORS_COLUMN, TextField())


def search_datasets(*, user: Any, params: SearchParams, with_facets: bool = True) -> SearchResult:
    """One page of the datasets ``user`` may see that match ``params``, with facet counts."""
    messages: list[str] = []
    narrowed, rank, range_labels = _narrowed(user, params, messages)
    filters = _facet_filters(params)
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
    facets = _facets(counts, params) if with_facets else []
    return SearchResult(
        params=params,
        datasets=[rows[pk] for pk in ids if pk in rows],
        total=total,
        facets=facets,
        active=_active_filters(params, facets, range_labels),
        messages=messages,
        full_text=uses_full_text(),
    )


def search_facets(*, user: Any, params: SearchParams) -> list[Facet]:
    """The facet counts of a search alone (the API's ``facets=true``), without a page of
    datasets; from the same cache as the search page's."""
    narrowed, _rank, _labels = _narrowed(user, params, [])
    filters = _facet_filters(params)
    counts, _total, _ids = _cached_counts(user, params, narrowed, filters, rank=None)
    return _facets(counts, params)


def _narrowed(
    user: Any, params: SearchParams, messages: list[str]
) -> tuple[QuerySet[Dataset], Any, dict[str, str]]:
    """What ``user`` may see, narrowed by the words and ranges of ``params`` (not yet by its
    facet filters); with the rank expression and the labels of the ranges applied."""
    texted, rank = _text_filter(access.datasets_visible_to(user), params.q)
    conditions, range_labels = _range_conditions(params, messages)
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
    counts, total, ids = _facet_counts(narrowed, filters, user=user, params=params, rank=rank)
    cache.set(key, (counts, total), FACETS_CACHE_SECONDS)
    return counts, total, ids


def _facets_cache_key(user: Any, params: SearchParams) -> str:
    """Facet counts do not change with the page or the sort: paging and re-sorting reuse
    them for a short while. Per user, as what one may see differs from another."""
    who = f"user:{user.pk}" if getattr(user, "is_authenticated", False) else "anonymous"
    what = json.dumps([params.q, params.filters, params.ranges], sort_keys=True, default=str)
    return "openem:search:facets:" + hashlib.sha256(f"{who}|{what}".encode()).hexdigest()


def _text_filter(queryset: QuerySet[Dataset], q: str) -> tuple[QuerySet[Dataset], Any]:
    if not q:
        return queryset, None
    if uses_full_text():
        query = SearchQuery(q, config=SEARCH_CONFIG, search_type="websearch")
        instruments = Instrument.objects.annotate(
            document=SearchVector("name", "manufacturer", "model", config=SEARCH_CONFIG)
        ).filter(document=query)
        # Instruments are few: their ids as a literal list keep every branch of the OR
        # indexable (GIN on the document, b-trees on instrument and pid: a BitmapOr).
        instrument_ids = list(instruments.values_list("pk", flat=True)[:1000])
        queryset = queryset.filter(
            Q(SearchVectorExact(SearchDocument(), query))
            | Q(instrument_id__in=instrument_ids)
            | Q(pid=q.lower())
        )
        return queryset, SearchRank(SearchDocument(), query, cover_density=True)
    words = q.split()[:10]
    for word in words:
        queryset = queryset.filter(_word_q(word.strip('"')))
    return queryset, None


def _word_q(word: str) -> Q:
    return (
        Q(title__icontains=word)
        | Q(description__icontains=word)
        | Q(keywords__icontains=word)
        | Q(metadata__organizational__authors__icontains=word)
        | Q(metadata__sample__icontains=word)
        | Q(metadata__instrument__microscope__icontains=word)
        | Q(metadata__acquisition__detectors__icontains=word)
        | Q(instrument__name__icontains=word)
        | Q(instrument__model__icontains=word)
        | Q(instrument__manufacturer__icontains=word)
        | Q(pid__iexact=word)
    )


def _range_conditions(
    params: SearchParams, messages: list[str]
) -> tuple[list[Any], dict[str, str]]:
    """Unit-aware range filters. SQLite: the conditions of ``metadata.search``. PostgreSQL:
    the same bounds (converted to SI by ``metadata.units``, with the same tolerance) on the
    generated SI columns, which the facet index holds, instead of each row's JSON."""
    expressions: list[Any] = []
    labels: dict[str, str] = {}
    for key, low, high in params.ranges:
        spec = RANGE_BY_KEY[key]
        if low is not None and high is not None:
            condition = Condition(spec.field, "range", (low, high), spec.unit)
            text = f"{_format_number(low)}–{_format_number(high)} {spec.unit_label}"
        elif low is not None:
            condition = Condition(spec.field, ">=", low, spec.unit)
            text = f"≥ {_format_number(low)} {spec.unit_label}"
        elif high is not None:
            condition = Condition(spec.field, "<=", high, spec.unit)
            text = f"≤ {_format_number(high)} {spec.unit_label}"
        else:
            continue
        try:
            found = condition_filters(condition)  # validates the field, unit and numbers
        except ValidationFailed as exc:
            messages.append(f"{spec.label}: {exc.message}")
            continue
        expressions.extend(_si_range(spec, low, high) if uses_full_text() else found)
        labels[key] = f"{spec.label} {text}"
    return expressions, labels


def _si_range(spec: RangeSpec, low: float | None, high: float | None) -> list[Any]:
    column = GeneratedColumn(spec.si_column, DecimalField())
    bounds: list[Any] = []
    if low is not None:
        si = units.to_si(low, pint_unit(spec.unit))[0]
        bounds.append(
            GreaterThanOrEqual(column, Value(Decimal(repr(si - abs(si) * REL_TOLERANCE))))
        )
    if high is not None:
        si = units.to_si(high, pint_unit(spec.unit))[0]
        bounds.append(LessThanOrEqual(column, Value(Decimal(repr(si + abs(si) * REL_TOLERANCE)))))
    return bounds


def _facet_filters(params: SearchParams) -> dict[str, Q]:
    """One filter per facet with chosen values (the values of a facet are OR-ed), on the
    columns of the facet index, so that counting stays an index-only scan."""
    filters: dict[str, Q] = {}
    for name, values in params.filters:
        if name == "technique":
            filters[name] = Q(technique__in=values)
        elif name == "facility":
            ids = list(Facility.objects.filter(slug__in=values).values_list("pk", flat=True))
            filters[name] = Q(facility_id__in=ids)
        elif name == "instrument":
            filters[name] = Q(instrument_id__in=[int(v) for v in values if v.isdigit()])
        elif name == "year":
            years = [int(v) for v in values if v.isdigit() and len(v) == 4]
            filters[name] = Q(In(_year(), years))
        elif name == "licence":
            filters[name] = Q(licence__in=values)
        elif name == "visibility":
            filters[name] = Q(visibility__in=values)
        elif name == "detector":
            filters[name] = _detector_q(values)
    return filters


def _detector_q(names: Sequence[str]) -> Q:
    if uses_full_text():  # the generated jsonb array of detector names
        return functools.reduce(
            operator.or_,
            (
                Q(JSONContains(Cast(Detectors(), JSONField()), Value([n], JSONField())))
                for n in names
            ),
        )
    return functools.reduce(
        operator.or_,
        (_all(condition_filters(Condition("acquisition.detectors.name", "=", n))) for n in names),
    )


class JSONContains(Lookup):
    """``lhs @> rhs`` for two jsonb expressions (PostgreSQL)."""

    lookup_name = "openem_json_contains"

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} @> {rhs}", [*lhs_params, *rhs_params]


def _all(expressions: Iterable[Any]) -> Q:
    return functools.reduce(operator.and_, (Q(e) for e in expressions), Q())


def _year() -> Any:
    """The year a dataset is listed under: when it was published (created, for drafts);
    on PostgreSQL the generated column of migration 0004, which the facet index holds."""
    if uses_full_text():
        return GeneratedColumn(YEAR_COLUMN, IntegerField())
    return ExtractYear(Coalesce("published_at", "created"))


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


# ---------------------------------------------------------------------------------------------
# Facets

Counts = dict[str, tuple[str, int]]


def _facet_names(user: Any) -> list[str]:
    # Anonymous users only ever see published public or embargoed entries: no visibility facet.
    authenticated = bool(getattr(user, "is_authenticated", False))
    return [name for name, _ in FACETS if name != "visibility" or authenticated]


def _facet_counts(
    narrowed: QuerySet[Dataset],
    filters: Mapping[str, Q],
    *,
    user: Any,
    params: SearchParams,
    rank: Any = None,
) -> tuple[dict[str, Counts], int | None, list[int] | None]:
    """Counts per facet value, each facet counted with every filter but its own, and the
    number of matching datasets (PostgreSQL; None on SQLite, where it is counted apart).
    With a ``rank`` (PostgreSQL, words sorted by relevance), also the ids of the page the
    parameters ask for, ranked in the same pass (else None).

    PostgreSQL: one pass with ``GROUPING SETS`` over the rows of :func:`_facet_sources`;
    each chosen facet's filter becomes a boolean column, and each grouping set counts the
    rows that pass every filter but its own (``SUM(n) FILTER (WHERE ...)``).
    SQLite (small catalogues): one query per facet.
    """
    names = _facet_names(user)
    if uses_full_text():
        flags = _flag_sql(params)
        if rank is not None and params.q:
            offset = (params.page - 1) * PAGE_SIZE
            source = _dataset_rows(narrowed, rank=rank)
            return _grouped_counts([source], names, flags, page_offset=offset)
        sources = _facet_sources(narrowed, user, params)
        # Rows of single datasets collapse into their combinations first; cells already are.
        collapse = bool(params.q or params.ranges)
        return _grouped_counts(sources, names, flags, collapse=collapse)
    counts: dict[str, Counts] = {}
    for name in names:
        others = [q for other, q in filters.items() if other != name]
        base = narrowed.filter(*others) if others else narrowed
        counts[name] = _COUNTERS[name](base.order_by())
    return counts, None, None


_GROUP_COLUMNS = {
    "technique": "technique",
    "facility": "facility_id",
    "instrument": "instrument_id",
    "licence": "licence",
    "visibility": "visibility",
    "year": "facet_year",
    "detector": "facet_detectors",
}
#: The columns of every source of facet rows, in this order, then ``n`` (rows it stands for).
_ROW_COLUMNS = (
    "technique",
    "facility_id",
    "instrument_id",
    "licence",
    "visibility",
    "facet_year",
    "facet_detectors",
)
#: Dataset counts per combination of facet values, status and visibility, kept exact by
#: triggers on the dataset table (migration 0005).
CELL_TABLE = "repository_dataset_facet_cell"
#: Enough memory for the facet passes to hash every grouping set instead of sorting on disk.
FACET_WORK_MEM = "64MB"

SQL = tuple[str, list[Any]]


def _facet_sources(narrowed: QuerySet[Dataset], user: Any, params: SearchParams) -> list[SQL]:
    """The rows the facets count, as SQL of (:data:`_ROW_COLUMNS`, n) rows.

    Words and ranges need each matching dataset. Without them (the home page, browsing by
    facets) the datasets everyone may see are counted from the cells of migration 0005, by
    (status, visibility) as ``repository.access`` rules for anonymous visitors; a signed-in
    user's own datasets outside those cells (private, drafts of their projects and
    facilities) are added one by one, and a site admin, who sees all, counts every cell.
    """
    if params.q or params.ranges or access.confined_facility_id(user) is not None:
        return [_dataset_rows(narrowed)]
    if access.is_site_admin(user):
        return [_cell_rows(None)]
    public, others = _public_cells()
    sources = [_cell_rows(public)]
    if getattr(user, "is_authenticated", False):
        # Named statuses and visibilities, not "not public": each part is then a range of
        # the (status, visibility) facet index instead of a filter over all of it.
        by_status: dict[str, list[str]] = {}
        for status, visibility in others:
            by_status.setdefault(status, []).append(visibility)
        whole = [st for st, vis in by_status.items() if len(vis) == len(Visibility.values)]
        if whole:
            sources.append(_dataset_rows(narrowed.filter(status__in=whole)))
        for status, visibilities in by_status.items():
            if status not in whole:
                part = narrowed.filter(status=status, visibility__in=visibilities)
                sources.append(_dataset_rows(part))
    return sources


def _public_cells() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The (status, visibility) pairs whose datasets an anonymous visitor may see, which
    are therefore visible to everyone (asked of ``repository.access``, never restated),
    and the other pairs."""
    anonymous = AnonymousUser()
    public: list[tuple[str, str]] = []
    others: list[tuple[str, str]] = []
    for status in DatasetStatus.values:
        for visibility in Visibility.values:
            dataset = Dataset(status=status, visibility=visibility)
            (public if access.can_view(anonymous, dataset) else others).append((status, visibility))
    return public, others


def _cell_rows(pairs: Sequence[tuple[str, str]] | None) -> SQL:
    sql = _CELL_SQL.format(table=CELL_TABLE)
    if pairs is None:
        return sql, []
    where, params = _pairs_condition(pairs)
    return f"{sql} WHERE {where}", params


def _pairs_condition(pairs: Sequence[tuple[str, str]]) -> SQL:
    """SQL matching cells of any of these (status, visibility) pairs."""
    if not pairs:
        return "false", []
    where = " OR ".join("(status = %s AND visibility = %s)" for _ in pairs)
    return f"({where})", [value for pair in pairs for value in pair]


def _dataset_rows(queryset: QuerySet[Dataset], *, rank: Any = None) -> SQL:
    """One row per dataset; with a ``rank``, also the columns of :data:`_PAGE_COLUMNS`."""
    extra: tuple[str, ...] = ()
    if rank is not None:
        queryset, extra = queryset.annotate(page_rank=rank), ("id", "page_rank", "created")
    values = (
        queryset.order_by()
        .annotate(facet_year=_year(), facet_detectors=Detectors())
        .values(*_ROW_COLUMNS, *extra)
    )
    # The inner query is the compiled (parameterised) queryset; nothing user-typed is pasted.
    inner, params = values.query.sql_with_params()
    quote = connection.ops.quote_name
    columns = ", ".join(f"facet_dataset.{quote(c)}" for c in _ROW_COLUMNS)
    if extra:
        columns = f"{columns}, 1, " + ", ".join(f"facet_dataset.{quote(c)}" for c in extra)
        return _DATASET_PAGE_ROWS_SQL.format(columns=columns, inner=inner), list(params)
    return _DATASET_ROWS_SQL.format(columns=columns, inner=inner), list(params)


# Cells store a missing instrument or year as 0 (their key has no NULLs).
_CELL_SQL = (
    "SELECT technique, facility_id, NULLIF(instrument_id, 0), licence, visibility, "
    "NULLIF(search_year, 0), search_detectors, n FROM {table}"
)
_DATASET_ROWS_SQL = "SELECT {columns}, 1 FROM ({inner}) AS facet_dataset"
_DATASET_PAGE_ROWS_SQL = "SELECT {columns} FROM ({inner}) AS facet_dataset"
#: With a ranked page: the dataset, its rank and its creation (the relevance order).
_PAGE_COLUMNS = ("page_id", "page_rank", "page_created")
_PAGE_ORDER = "page_rank DESC, page_created DESC, page_id DESC"


def _flag_sql(params: SearchParams) -> dict[str, SQL]:
    """The filter of each facet with chosen values, on the columns of the facet rows (the
    same conditions as :func:`_facet_filters`, which filters the datasets listed)."""
    flags: dict[str, SQL] = {}
    for name, values in params.filters:
        if name in ("technique", "licence", "visibility"):
            flags[name] = (f"{name} = ANY(%s)", [list(values)])
        elif name == "facility":
            ids = list(Facility.objects.filter(slug__in=values).values_list("pk", flat=True))
            flags[name] = ("facility_id = ANY(%s)", [ids])
        elif name == "instrument":
            flags[name] = ("instrument_id = ANY(%s)", [[int(v) for v in values if v.isdigit()]])
        elif name == "year":
            years = [int(v) for v in values if v.isdigit() and len(v) == 4]
            flags[name] = ("facet_year = ANY(%s)", [years])
        elif name == "detector":
            flags[name] = (
                "(" + " OR ".join("facet_detectors::jsonb @> %s::jsonb" for _ in values) + ")",
                [json.dumps([v]) for v in values],
            )
    return flags


def _grouped_counts(
    sources: Sequence[SQL],
    names: list[str],
    flags: Mapping[str, SQL],
    *,
    collapse: bool = True,
    page_offset: int | None = None,
) -> tuple[dict[str, Counts], int, list[int] | None]:
    """Every facet and the total in one pass (PostgreSQL ``GROUPING SETS``); with a
    ``page_offset``, the rows (one source, with :data:`_PAGE_COLUMNS`) are read once into a
    CTE that also gives the ids of that page in relevance order."""
    quote = connection.ops.quote_name
    columns = [_GROUP_COLUMNS[name] for name in names]

    def passing(skip: str | None) -> str:
        kept = [quote("flag_" + n) for n in flags if n != skip]
        return " AND ".join(kept) or "true"

    counts = [f"SUM(n) FILTER (WHERE {passing(None)})"]
    counts += [f"SUM(n) FILTER (WHERE {passing(name)})" for name in names if name in flags]
    # A row that fails two chosen filters counts nowhere: leave it out before grouping.
    failures = " + ".join(f"(NOT {quote('flag_' + n)})::int" for n in flags)
    keys = ", ".join(quote(c) for c in columns)
    flag_columns = "".join(
        f", COALESCE({condition}, false) AS {quote('flag_' + n)}"
        for n, (condition, _) in flags.items()
    )
    page = page_offset is not None
    row_columns = ", ".join(
        quote(c) for c in (*_ROW_COLUMNS, "n", *(_PAGE_COLUMNS if page else ()))
    )
    template = _GROUPED_SQL if collapse else _FLAT_GROUPED_SQL
    # Two levels: rows collapse into their distinct combinations first (one hash per row),
    # then the grouping sets add those up (far fewer rows to hash once per set).
    sql = (_RANKED_GROUPED_SQL if page else template).format(
        where=f"WHERE {failures} <= 1" if len(flags) > 1 else "",
        keys=keys or "()",
        select=f"{keys}, " if columns else "",
        grouping=", ".join(f"GROUPING({quote(c)})" for c in columns) or "0",
        counts=", ".join(f"{count} AS n{index}" for index, count in enumerate(counts)),
        sums=", ".join(f"SUM(n{index})" for index in range(len(counts))),
        flags=flag_columns,
        row_columns=row_columns,
        union=" UNION ALL ".join(f"({sql})" for sql, _ in sources),
        sets=", ".join([*(f"({quote(c)})" for c in columns), "()"]),
        passing=passing(None),
        order=_PAGE_ORDER,
    )
    params = [p for _, flag_params in flags.values() for p in flag_params]
    params += [p for _, source_params in sources for p in source_params]
    if page:
        params += [PAGE_SIZE, page_offset]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{FACET_WORK_MEM}'")
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # Which count column serves each facet: its own when it has a chosen value.
    chosen = [name for name in names if name in flags]
    count_index = {name: 1 + chosen.index(name) if name in flags else 0 for name in names}
    raw: dict[str, list[tuple[Any, int]]] = {name: [] for name in names}
    total = 0
    page_ids: list[int] | None = None
    width = len(columns)
    for row in rows:
        if page:
            page_ids, row = list(row[-1] or []), row[:-1]
        keys, set_flags, tallies = row[:width], row[width : 2 * width], row[2 * width :]
        if width == 0 or all(set_flags):
            total = int(tallies[0] or 0)
            continue
        index = set_flags.index(0) if width > 1 else 0
        n = int(tallies[count_index[names[index]]] or 0)
        if n:
            raw[names[index]].append((keys[index], n))
    labelled = {name: _label_counts(name, raw[name]) for name in names}
    return labelled, total, page_ids if page else None


_GROUPED_SQL = """
SELECT {select}{grouping}, {sums} FROM (
  SELECT {select}{counts} FROM (
    SELECT facet_union.*{flags} FROM ({union}) AS facet_union ({row_columns})
  ) AS facet_rows {where} GROUP BY {keys}
) AS facet_base
GROUP BY GROUPING SETS ({sets})
"""
#: The matches are read (and ranked) once: the grouping sets count them, and the page of
#: the relevance order is taken from the same rows (``array_agg``: one value per row).
_RANKED_GROUPED_SQL = """
WITH facet_rows AS MATERIALIZED (
  SELECT facet_union.*{flags} FROM ({union}) AS facet_union ({row_columns})
)
SELECT {select}{grouping}, {sums}, (
  SELECT array_agg(page_id ORDER BY {order}) FROM (
    SELECT page_id, page_rank, page_created FROM facet_rows WHERE {passing}
    ORDER BY {order} LIMIT %s OFFSET %s
  ) AS page
) FROM (
  SELECT {select}{counts} FROM facet_rows {where} GROUP BY {keys}
) AS facet_base
GROUP BY GROUPING SETS ({sets})
"""
_FLAT_GROUPED_SQL = """
SELECT {select}{grouping}, {counts} FROM (
  SELECT facet_union.*{flags} FROM ({union}) AS facet_union ({row_columns})
) AS facet_rows {where}
GROUP BY GROUPING SETS ({sets})
"""


def _label_counts(name: str, rows: list[tuple[Any, int]]) -> Counts:
    """Facet values as the URL names them, with labels: slugs for facilities, ids for
    instruments, display names for choices."""
    if name == "detector":  # rows of (list of names, count): a dataset counts once per name
        per_name: dict[str, int] = {}
        for names, n in rows:
            # Django leaves jsonb from a raw cursor undecoded (a str).
            decoded = json.loads(names) if isinstance(names, str) else names
            for detector in set(decoded if isinstance(decoded, list) else []):
                if isinstance(detector, str) and detector.strip():
                    per_name[detector] = per_name.get(detector, 0) + n
        return _ranked((d, d, n) for d, n in per_name.items())
    if name == "facility":
        known = {
            pk: (slug, label)
            for pk, slug, label in Facility.objects.values_list("pk", "slug", "name")
        }
        return _ranked((known[pk][0], known[pk][1], n) for pk, n in rows if pk in known)
    if name == "instrument":
        ids = [pk for pk, _ in rows if pk is not None]
        known_names = dict(Instrument.objects.filter(pk__in=ids).values_list("pk", "name"))
        return _ranked((pk, known_names[pk], n) for pk, n in rows if pk in known_names)
    if name == "year":
        ordered = sorted(((str(int(y)), n) for y, n in rows if y is not None), reverse=True)
        return {year: (year, n) for year, n in ordered}
    labels = {"technique": dict(Technique.choices), "visibility": dict(Visibility.choices)}
    names = labels.get(name, {})
    return _ranked((value, names.get(value, value), n) for value, n in rows)


def _facets(counts: Mapping[str, Counts], params: SearchParams) -> list[Facet]:
    facets = []
    for name, label in FACETS:
        if name not in counts:
            continue
        facet_counts = counts[name]
        only_published = set(facet_counts) <= {Visibility.PUBLIC, Visibility.EMBARGOED}
        if name == "visibility" and only_published and not params.values("visibility"):
            continue  # nothing non-public to tell apart: no facet to show
        selected = set(params.values(name))
        values = [
            FacetValue(
                value=value,
                label=label_,
                count=count,
                selected=value in selected,
                url=params.toggled(name, value).url(),
            )
            for value, (label_, count) in facet_counts.items()
        ]
        # a selected value with no match left still shows, so that it can be removed
        values.extend(
            FacetValue(
                value, _fallback_label(name, value), 0, True, params.toggled(name, value).url()
            )
            for value in selected - set(facet_counts)
        )
        if values:
            facets.append(Facet(name=name, label=label, values=values))
    return facets


def _ranked(rows: Iterable[tuple[Any, str, int]]) -> Counts:
    ordered = sorted(
        ((str(value), label, n) for value, label, n in rows if value not in (None, "")),
        key=lambda row: (-row[2], row[1].lower()),
    )
    return {value: (label, n) for value, label, n in ordered}


def _count_column(base: QuerySet[Dataset], name: str) -> Counts:
    column = _GROUP_COLUMNS[name]
    queryset = base.annotate(facet_year=_year()) if name == "year" else base
    rows = queryset.values(column).annotate(n=Count("*")).values_list(column, "n")
    return _label_counts(name, list(rows))


_DETECTORS_SQLITE = """
SELECT json_extract(item.value, '$.name'), COUNT(DISTINCT d.id)
FROM {table} d, json_each(d.metadata, '$.acquisition.detectors') AS item
WHERE d.id IN ({inner}) AND json_type(d.metadata, '$.acquisition.detectors') = 'array'
  AND item.type = 'object'
GROUP BY 1
"""


def _count_detector(base: QuerySet[Dataset]) -> Counts:
    """Datasets per detector named in the metadata (``acquisition.detectors[].name``), for
    SQLite (PostgreSQL counts them with the other facets, from the generated column)."""
    table = connection.ops.quote_name(Dataset._meta.db_table)
    # The inner query is the compiled (parameterised) queryset; nothing user-typed is pasted.
    inner_sql, inner_params = base.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(_DETECTORS_SQLITE.format(table=table, inner=inner_sql), inner_params)
        rows = cursor.fetchall()
    return _ranked(
        (name, str(name), n) for name, n in rows if isinstance(name, str) and name.strip()
    )


_COUNTERS: dict[str, Any] = {
    "technique": lambda base: _count_column(base, "technique"),
    "facility": lambda base: _count_column(base, "facility"),
    "instrument": lambda base: _count_column(base.filter(instrument__isnull=False), "instrument"),
    "detector": _count_detector,
    "year": lambda base: _count_column(base, "year"),
    "licence": lambda base: _count_column(base, "licence"),
    "visibility": lambda base: _count_column(base, "visibility"),
}


def _fallback_label(facet: str, value: str) -> str:
    if facet == "technique":
        return dict(Technique.choices).get(value, value)
    if facet == "visibility":
        return dict(Visibility.choices).get(value, value)
    if facet == "facility":
        return Facility.objects.filter(slug=value).values_list("name", flat=True).first() or value
    if facet == "instrument" and value.isdigit():
        return (
            Instrument.objects.filter(pk=int(value)).values_list("name", flat=True).first() or value
        )
    return value


def _active_filters(
    params: SearchParams, facets: Sequence[Facet], range_labels: Mapping[str, str]
) -> list[ActiveFilter]:
    labels = {(f.name, v.value): v.label for f in facets for v in f.values}
    active = []
    if params.q:
        active.append(ActiveFilter(f"“{params.q}”", replace(params, q="", page=1, sort="").url()))
    for name, values in params.filters:
        for value in values:
            label = labels.get((name, value)) or _fallback_label(name, value)
            active.append(
                ActiveFilter(f"{FACET_LABELS[name]}: {label}", params.toggled(name, value).url())
            )
    for key, label in range_labels.items():
        active.append(ActiveFilter(label, params.without_range(key).url()))
    return active


# ---------------------------------------------------------------------------------------------
# Parsing helpers


def _mapping_getlist(data: Mapping[str, Any]) -> Any:
    def getlist(key: str) -> list[str]:
        value = data.get(key)
        if value is None:
            return []
        return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]

    return getlist


def _positive_int(raw: Any, *, default: int) -> int:
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        return default
    return value if value >= 1 else default


def _number(raw: Any, spec: RangeSpec, which: str, problems: list[str]) -> float | None:
    text = str(raw or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        problems.append(f"{spec.label}: the {which} {text[:20]!r} is not a number; ignored it.")
        return None
    if not math.isfinite(value):
        problems.append(f"{spec.label}: the {which} must be a finite number; ignored it.")
        return None
    return value


def _format_number(value: float) -> str:
    return f"{value:g}"


def _facet_order(item: tuple[str, tuple[str, ...]]) -> int:
    return [name for name, _ in FACETS].index(item[0])


# ---------------------------------------------------------------------------------------------
# For the API's dataset list: the same text match and range filters as the pages


def text_search(queryset: QuerySet[Dataset], q: str) -> tuple[QuerySet[Dataset], Any]:
    """``queryset`` narrowed to the datasets matching ``q`` as the search page matches them
    (ranked full text on PostgreSQL, every word somewhere on SQLite); with the rank expression
    (None when there is no ranking)."""
    return _text_filter(queryset, " ".join(q.split())[:MAX_QUERY_LENGTH])


def range_filters(ranges: Sequence[tuple[str, float | None, float | None]]) -> list[Any]:
    """Filters for ``(key, low, high)`` ranges of :data:`RANGES`, as the search page applies
    them; a bound the metadata module refuses raises ValidationFailed (the API answers 400)."""
    messages: list[str] = []
    expressions, _labels = _range_conditions(SearchParams(ranges=tuple(ranges)), messages)
    if messages:
        raise ValidationFailed("; ".join(messages))
    return expressions


#: Columns of the facet cells an exact filter of the API's dataset list can be counted on.
CELL_FILTER_COLUMNS = frozenset(
    {"status", "visibility", "technique", "facility_id", "instrument_id"}
)


def count_from_cells(user: Any, exact: Mapping[str, Any]) -> int | None:
    """How many datasets ``user`` may see whose ``exact`` columns have the given values, read
    from the facet cells of migration 0005 (one row per combination, not per dataset). None
    where there are no cells (SQLite): count the datasets instead.

    What a user sees, as ``repository.access`` rules it, in parts that never overlap:

    - the cells everyone may see (anonymous visitors and deactivated accounts see these only);
    - a site admin: every cell instead;
    - a signed-in user: also every cell of the facilities where they are staff or curator
      (insiders of all their datasets), and, counted on the datasets, their own and their
      projects' datasets in neither of those (few; the owner and project indexes find them).

    The user's projects are read first (a literal list keeps the owner and project indexes
    usable); the parts are then counted in one statement, in one snapshot."""
    if not uses_full_text() or access.confined_facility_id(user) is not None:
        return None  # a confined token: counted on its facility's datasets, below
    unknown = set(exact) - CELL_FILTER_COLUMNS
    if unknown:
        raise ValueError(f"not a column of the facet cells: {', '.join(sorted(unknown))}")
    quote = connection.ops.quote_name
    conditions = [f"{quote(column)} = %s" for column in exact]
    params: list[Any] = list(exact.values())
    personal: SQL | None = None
    if not access.is_site_admin(user):
        public, _others = _public_cells()
        seen, seen_params = _pairs_condition(public)
        if access.is_signed_in(user):
            facilities = access.insider_facility_ids(user)
            facilities_sql, facilities_params = facilities.query.sql_with_params()
            seen = f"({seen} OR facility_id IN ({facilities_sql}))"
            seen_params = [*seen_params, *facilities_params]
            # The same pairs as the cells part (none: nothing to leave out).
            everyone = functools.reduce(
                operator.or_, (Q(status=st, visibility=vis) for st, vis in public), Q()
            )
            projects = list(access.insider_project_ids(user))
            own = (
                Dataset.objects.filter(
                    access.personal_insider_q(user, project_ids=projects), **exact
                )
                .exclude(everyone)
                .exclude(facility_id__in=facilities)
                .order_by()
                .values("pk")
            )
            own_sql, own_params = own.query.sql_with_params()
            personal = own_sql, list(own_params)
        conditions.append(seen)
        params += seen_params
    where = " AND ".join(conditions) or "true"
    # Column names from CELL_FILTER_COLUMNS, SQL compiled from querysets, and placeholders:
    # every value goes as a parameter.
    sql = f"SELECT COALESCE(SUM(n), 0) FROM {CELL_TABLE} WHERE {where}"  # noqa: S608
    if personal is not None:
        sql = f"SELECT ({sql}) + (SELECT COUNT(*) FROM ({personal[0]}) AS own)"  # noqa: S608
        params += personal[1]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])
