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
so that choosing a second value of a facet widens (OR) the result, as the counts promise.
Range filters (pixel size, voltage, dose) are unit-aware conditions of :mod:`metadata.search`.
The parsed request is a :class:`SearchParams`; its :meth:`~SearchParams.url` is what makes a
result page shareable: the same URL gives the same result to anyone allowed to see it.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from django.contrib.postgres.search import (
    SearchQuery,
    SearchRank,
    SearchVector,
    SearchVectorExact,
    SearchVectorField,
)
from django.db import connection
from django.db.models import Count, Expression, F, Q, QuerySet
from django.db.models.functions import Coalesce, ExtractYear, Lower
from django.db.models.lookups import In
from django.http import QueryDict

from metadata.search import Condition, condition_filters
from openem.errors import ValidationFailed

from . import access
from .models import Dataset, Facility, Instrument, Technique, Visibility

PAGE_SIZE = 20
#: Deeper pages than this are refused with a message (narrow the search instead): OFFSET
#: pagination is cheap near the top and the result count tells how much there is.
MAX_PAGE = 500
MAX_QUERY_LENGTH = 200
MAX_VALUES_PER_FACET = 20
FACET_SHOWN = 12
SEARCH_CONFIG = "english"
DOCUMENT_COLUMN = "search_document"

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


class SearchDocument(Expression):
    """``<dataset alias>.search_document``: the generated tsvector column (PostgreSQL only).

    The column is not a model field (it is computed by PostgreSQL from the row), so it is
    reached through the dataset's primary-key column, which keeps the right table alias when
    the queryset is used as a subquery.
    """

    output_field = SearchVectorField()

    def __init__(self) -> None:
        super().__init__(output_field=SearchVectorField())
        self.pk: Any = F("pk")

    def get_source_expressions(self) -> list[Any]:
        return [self.pk]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.pk,) = exprs

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        alias = compiler.quote_name_unless_alias(self.pk.alias)
        return f"{alias}.{connection.ops.quote_name(DOCUMENT_COLUMN)}", []


def search_datasets(*, user: Any, params: SearchParams, with_facets: bool = True) -> SearchResult:
    """One page of the datasets ``user`` may see that match ``params``, with facet counts."""
    messages: list[str] = []
    visible = access.datasets_visible_to(user)
    texted, rank = _text_filter(visible, params.q)
    conditions, range_labels = _range_conditions(params, messages)
    narrowed = texted
    for expression in conditions:
        narrowed = narrowed.filter(expression)
    facet_filters = _facet_filters(params)
    matched = narrowed
    for name in facet_filters:
        matched = matched.filter(facet_filters[name])
    total = matched.count()
    page = min(params.page, max(1, math.ceil(total / PAGE_SIZE)))
    params = params if page == params.page else params.with_page(page)
    ordered = _ordered(matched, params, rank)
    offset = (page - 1) * PAGE_SIZE
    datasets = list(ordered.select_related("facility", "instrument")[offset : offset + PAGE_SIZE])
    facets = _facets(narrowed, facet_filters, params, user=user) if with_facets else []
    return SearchResult(
        params=params,
        datasets=datasets,
        total=total,
        facets=facets,
        active=_active_filters(params, facets, range_labels),
        messages=messages,
        full_text=uses_full_text(),
    )


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
        else:
            condition = Condition(spec.field, "<=", high, spec.unit)
            text = f"≤ {_format_number(high)} {spec.unit_label}"
        try:
            expressions.extend(condition_filters(condition))
        except ValidationFailed as exc:
            messages.append(f"{spec.label}: {exc.message}")
            continue
        labels[key] = f"{spec.label} {text}"
    return expressions, labels


def _facet_filters(params: SearchParams) -> dict[str, Any]:
    """One filter expression per facet with selected values (values OR-ed)."""
    filters: dict[str, Any] = {}
    for name, values in params.filters:
        if name == "technique":
            filters[name] = Q(technique__in=values)
        elif name == "facility":
            filters[name] = Q(facility__slug__in=values)
        elif name == "instrument":
            ids = [int(v) for v in values if v.isdigit()]
            filters[name] = Q(instrument_id__in=ids)
        elif name == "year":
            years = [int(v) for v in values if v.isdigit() and len(v) == 4]
            filters[name] = Q(In(_year(), years))
        elif name == "licence":
            filters[name] = Q(licence__in=values)
        elif name == "visibility":
            filters[name] = Q(visibility__in=values)
        elif name == "detector":
            filters[name] = functools.reduce(
                operator.or_, (_all(condition_filters(_detector(v))) for v in values)
            )
    return filters


def _detector(name: str) -> Condition:
    return Condition("acquisition.detectors.name", "=", name)


def _all(expressions: Iterable[Any]) -> Q:
    return functools.reduce(operator.and_, (Q(e) for e in expressions), Q())


def _year() -> ExtractYear:
    """The year a dataset is listed under: when it was published (created, for drafts)."""
    return ExtractYear(Coalesce("published_at", "created"))


def _ordered(queryset: QuerySet[Dataset], params: SearchParams, rank: Any) -> QuerySet[Dataset]:
    sort = params.effective_sort
    if sort == Sort.RELEVANCE and rank is not None:
        return queryset.annotate(rank=rank).order_by("-rank", "-created", "-pk")
    if sort == Sort.TITLE:
        return queryset.order_by(Lower("title"), "pk")
    return queryset.annotate(listed=Coalesce("published_at", "created")).order_by("-listed", "-pk")


# ---------------------------------------------------------------------------------------------
# Facets


def _facets(
    narrowed: QuerySet[Dataset], filters: Mapping[str, Any], params: SearchParams, *, user: Any
) -> list[Facet]:
    facets = []
    for name, label in FACETS:
        if name == "visibility" and not getattr(user, "is_authenticated", False):
            continue  # anonymous users only ever see published, public or embargoed entries
        base = narrowed
        for other, expression in filters.items():
            if other != name:
                base = base.filter(expression)
        counts = _COUNTERS[name](base.order_by())
        only_published = set(counts) <= {Visibility.PUBLIC, Visibility.EMBARGOED}
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
            for value, (label_, count) in counts.items()
        ]
        # a selected value with no match left still shows, so that it can be removed
        values.extend(
            FacetValue(
                value, _fallback_label(name, value), 0, True, params.toggled(name, value).url()
            )
            for value in selected - set(counts)
        )
        if values:
            facets.append(Facet(name=name, label=label, values=values))
    return facets


Counts = dict[str, tuple[str, int]]


def _ranked(rows: Iterable[tuple[Any, str, int]]) -> Counts:
    ordered = sorted(
        ((str(value), label, n) for value, label, n in rows if value not in (None, "")),
        key=lambda row: (-row[2], row[1].lower()),
    )
    return {value: (label, n) for value, label, n in ordered}


def _count_technique(base: QuerySet[Dataset]) -> Counts:
    labels = dict(Technique.choices)
    rows = base.values("technique").annotate(n=Count("pk"))
    return _ranked(
        (r["technique"], labels.get(r["technique"], r["technique"]), r["n"]) for r in rows
    )


def _count_facility(base: QuerySet[Dataset]) -> Counts:
    rows = base.values("facility__slug", "facility__name").annotate(n=Count("pk"))
    return _ranked((r["facility__slug"], r["facility__name"], r["n"]) for r in rows)


def _count_instrument(base: QuerySet[Dataset]) -> Counts:
    rows = (
        base.filter(instrument__isnull=False)
        .values("instrument_id", "instrument__name", "instrument__model")
        .annotate(n=Count("pk"))
    )
    return _ranked((r["instrument_id"], r["instrument__name"], r["n"]) for r in rows)


def _count_year(base: QuerySet[Dataset]) -> Counts:
    rows = base.annotate(facet_year=_year()).values("facet_year").annotate(n=Count("pk"))
    ordered = sorted(
        ((str(r["facet_year"]), str(r["facet_year"]), r["n"]) for r in rows if r["facet_year"]),
        key=lambda row: row[0],
        reverse=True,
    )
    return {value: (label, n) for value, label, n in ordered}


def _count_licence(base: QuerySet[Dataset]) -> Counts:
    rows = base.values("licence").annotate(n=Count("pk"))
    return _ranked((r["licence"], r["licence"], r["n"]) for r in rows)


def _count_visibility(base: QuerySet[Dataset]) -> Counts:
    labels = dict(Visibility.choices)
    rows = base.values("visibility").annotate(n=Count("pk"))
    return _ranked(
        (r["visibility"], labels.get(r["visibility"], r["visibility"]), r["n"]) for r in rows
    )


_DETECTORS_PG = """
SELECT item.value ->> 'name', COUNT(DISTINCT d.id)
FROM {table} d CROSS JOIN LATERAL jsonb_array_elements(
  CASE WHEN jsonb_typeof(d.metadata #> '{{acquisition,detectors}}') = 'array'
  THEN d.metadata #> '{{acquisition,detectors}}' ELSE '[]'::jsonb END) AS item(value)
WHERE d.id IN ({inner}) AND jsonb_typeof(item.value) = 'object'
GROUP BY 1
"""
_DETECTORS_SQLITE = """
SELECT json_extract(item.value, '$.name'), COUNT(DISTINCT d.id)
FROM {table} d, json_each(d.metadata, '$.acquisition.detectors') AS item
WHERE d.id IN ({inner}) AND json_type(d.metadata, '$.acquisition.detectors') = 'array'
  AND item.type = 'object'
GROUP BY 1
"""


def _count_detector(base: QuerySet[Dataset]) -> Counts:
    """Datasets per detector named in the metadata (``acquisition.detectors[].name``)."""
    # The inner query is the compiled (parameterised) queryset; nothing user-typed is pasted.
    inner_sql, inner_params = base.values("pk").query.sql_with_params()
    table = connection.ops.quote_name(Dataset._meta.db_table)
    template = _DETECTORS_PG if connection.vendor == "postgresql" else _DETECTORS_SQLITE
    sql = template.format(table=table, inner=inner_sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, inner_params)
        rows = cursor.fetchall()
    return _ranked(
        (name, str(name), n) for name, n in rows if isinstance(name, str) and name.strip()
    )


_COUNTERS = {
    "technique": _count_technique,
    "facility": _count_facility,
    "instrument": _count_instrument,
    "detector": _count_detector,
    "year": _count_year,
    "licence": _count_licence,
    "visibility": _count_visibility,
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
