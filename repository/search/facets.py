"""Facets: the counts of matching datasets per technique, facility, instrument, detector,
year, licence and visibility, and the facet filters a search applies.

Facets are disjunctive: the counts of one facet are computed with every filter except its own,
so that choosing a second value of a facet widens (OR) the result, as the counts promise. On
PostgreSQL they are counted in one pass (``GROUPING SETS``), and the total with them:

- without words, ranges or the API's other filters (the home page, browsing by facets),
  from the facet cells (:mod:`.cells`) for what everyone may see, plus the user's own other
  datasets from the facet index;
- with them, over the matching datasets (the covering facet index of migration
  0004 holds the year, detector and SI columns); words sorted by relevance are read and ranked
  once, for the counts and the page together.

SQLite (small catalogues) counts one query per facet.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, JSONField, Lookup, Q, QuerySet, Value
from django.db.models.functions import Cast
from django.db.models.lookups import In

from metadata import oscem
from metadata.search import Condition, condition_filters

from .. import access
from ..models import Dataset, Facility, Instrument, Technique, Visibility
from .cells import SQL, cell_rows, other_pairs, pairs_condition
from .columns import Detectors, listed_year, uses_full_text
from .query import FACETS, PAGE_SIZE, DatasetQuery

FACET_SHOWN = 12
#: Enough memory for the facet passes to hash every grouping set instead of sorting on disk.
FACET_WORK_MEM = "64MB"

#: Per facet: value (as the URL names it) -> (label, count), most frequent first.
Counts = dict[str, tuple[str, int]]


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


def facet_filters(query: DatasetQuery) -> dict[str, Q]:
    """One filter per facet with chosen values (the values of a facet are OR-ed), on the
    columns of the facet index, so that counting stays an index-only scan."""
    filters: dict[str, Q] = {}
    for name, values in query.filters:
        if name == "technique":
            filters[name] = Q(technique__in=values)
        elif name == "facility":
            ids = list(Facility.objects.filter(slug__in=values).values_list("pk", flat=True))
            filters[name] = Q(facility_id__in=ids)
        elif name == "instrument":
            filters[name] = Q(instrument_id__in=[int(v) for v in values if v.isdigit()])
        elif name == "year":
            years = [int(v) for v in values if v.isdigit() and len(v) == 4]
            filters[name] = Q(In(listed_year(), years))
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
        (_all(condition_filters(Condition(f"{oscem.DETECTORS}.name", "=", n))) for n in names),
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


def facet_names(user: Any) -> list[str]:
    # Anonymous users only ever see published public or embargoed entries: no visibility facet.
    authenticated = bool(getattr(user, "is_authenticated", False))
    return [name for name, _ in FACETS if name != "visibility" or authenticated]


def facet_counts(
    narrowed: QuerySet[Dataset],
    filters: Mapping[str, Q],
    *,
    user: Any,
    query: DatasetQuery,
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
    names = facet_names(user)
    if uses_full_text():
        flags = _flag_sql(query)
        if rank is not None and query.q:
            offset = (query.page - 1) * PAGE_SIZE
            source = _dataset_rows(narrowed, rank=rank)
            return _grouped_counts([source], names, flags, page_offset=offset)
        sources = _facet_sources(narrowed, user, query)
        # Rows of single datasets collapse into their combinations first; cells already are.
        collapse = query.narrows
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


def _facet_sources(narrowed: QuerySet[Dataset], user: Any, query: DatasetQuery) -> list[SQL]:
    """The rows the facets count, as SQL of (:data:`_ROW_COLUMNS`, n) rows.

    Words, ranges and the other filters need each matching dataset. Without them (the home
    page, browsing by facets) the datasets everyone may see are counted from the cells of
    migration 0005, by the (status, visibility) pairs of ``access.visible_parts``; a
    signed-in user's other datasets (private, drafts of their projects and facilities) are
    added one by one, and a site admin, who sees all, counts every cell. (Their facilities'
    cells, as ``cells.count_from_cells`` counts totals, would not use the cells' (status,
    visibility) index: slower here, where every facet is grouped.)
    """
    if query.narrows or access.confined_facility_id(user) is not None:
        return [_dataset_rows(narrowed)]
    parts = access.visible_parts(user)
    if parts.everything:
        return [cell_rows(None)]
    sources = [cell_rows(pairs_condition(parts.public))]
    if parts.personal is not None:
        # Named statuses and visibilities, not "not public": each part is then a range of
        # the (status, visibility) facet index instead of a filter over all of it.
        by_status: dict[str, list[str]] = {}
        for status, visibility in other_pairs(parts):
            by_status.setdefault(status, []).append(visibility)
        whole = [st for st, vis in by_status.items() if len(vis) == len(Visibility.values)]
        if whole:
            sources.append(_dataset_rows(narrowed.filter(status__in=whole)))
        for status, visibilities in by_status.items():
            if status not in whole:
                part = narrowed.filter(status=status, visibility__in=visibilities)
                sources.append(_dataset_rows(part))
    return sources


def _dataset_rows(queryset: QuerySet[Dataset], *, rank: Any = None) -> SQL:
    """One row per dataset; with a ``rank``, also the columns of :data:`_PAGE_COLUMNS`."""
    extra: tuple[str, ...] = ()
    if rank is not None:
        queryset, extra = queryset.annotate(page_rank=rank), ("id", "page_rank", "created")
    values = (
        queryset.order_by()
        .annotate(facet_year=listed_year(), facet_detectors=Detectors())
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


_DATASET_ROWS_SQL = "SELECT {columns}, 1 FROM ({inner}) AS facet_dataset"
_DATASET_PAGE_ROWS_SQL = "SELECT {columns} FROM ({inner}) AS facet_dataset"
#: With a ranked page: the dataset, its rank and its creation (the relevance order).
_PAGE_COLUMNS = ("page_id", "page_rank", "page_created")
_PAGE_ORDER = "page_rank DESC, page_created DESC, page_id DESC"


def _flag_sql(query: DatasetQuery) -> dict[str, SQL]:
    """The filter of each facet with chosen values, on the columns of the facet rows (the
    same conditions as :func:`_facet_filters`, which filters the datasets listed)."""
    flags: dict[str, SQL] = {}
    for name, values in query.filters:
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


def facets_of(counts: Mapping[str, Counts], query: DatasetQuery) -> list[Facet]:
    facets = []
    for name, label in FACETS:
        if name not in counts:
            continue
        facet_counts = counts[name]
        only_published = set(facet_counts) <= {Visibility.PUBLIC, Visibility.EMBARGOED}
        if name == "visibility" and only_published and not query.values("visibility"):
            continue  # nothing non-public to tell apart: no facet to show
        selected = set(query.values(name))
        values = [
            FacetValue(
                value=value,
                label=label_,
                count=count,
                selected=value in selected,
                url=query.toggled(name, value).url(),
            )
            for value, (label_, count) in facet_counts.items()
        ]
        # a selected value with no match left still shows, so that it can be removed
        values.extend(
            FacetValue(
                value, fallback_label(name, value), 0, True, query.toggled(name, value).url()
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
    queryset = base.annotate(facet_year=listed_year()) if name == "year" else base
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


def fallback_label(facet: str, value: str) -> str:
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
