"""The facet cells of migration 0005: datasets counted per combination of status,
visibility and facet values, kept exact by triggers on the dataset table, so that counts of
what everyone may see read a few thousand cells instead of every dataset (PostgreSQL).

What a user may see comes from ``repository.access.visible_parts``; :func:`visible_cells`
writes it as the one SQL condition over the cells, never restating the rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection
from django.db.models import Q

from .. import access
from ..models import Dataset, DatasetStatus, Visibility
from .columns import uses_full_text

#: Dataset counts per combination of facet values, status and visibility, kept exact by
#: triggers on the dataset table (migration 0005).
CELL_TABLE = "repository_dataset_facet_cell"

SQL = tuple[str, list[Any]]

# Cells store a missing instrument or year as 0 (their key has no NULLs).
_CELL_SQL = (
    "SELECT technique, facility_id, NULLIF(instrument_id, 0), licence, visibility, "
    "NULLIF(search_year, 0), search_detectors, n FROM {table}"
)


def other_pairs(parts: access.VisibleParts) -> list[tuple[str, str]]:
    """The (status, visibility) pairs that are not :attr:`~access.VisibleParts.public`."""
    every = [(st, vis) for st in DatasetStatus.values for vis in Visibility.values]
    return [pair for pair in every if pair not in parts.public]


def visible_cells(parts: access.VisibleParts) -> SQL | None:
    """The cells whose every dataset a reader with these parts (``access.visible_parts``)
    sees, as a condition on the cell table: the public pairs, and every cell of their insider
    facilities; None for every cell (a site admin). The datasets they see in person are not
    whole cells: :func:`personal_outside_cells` has those. This is where the visibility rule
    is written in SQL, from the parts, never restated."""
    if parts.everything:
        return None
    seen, params = pairs_condition(parts.public)
    if parts.facility_ids is not None:
        facilities_sql, facilities_params = parts.facility_ids.query.sql_with_params()
        seen = f"({seen} OR facility_id IN ({facilities_sql}))"
        params = [*params, *facilities_params]
    return seen, params


def personal_outside_cells(parts: access.VisibleParts) -> Q | None:
    """The datasets a reader sees in person (their own, their projects') that are in none of
    the cells of :func:`visible_cells`: they are counted one by one (few; the owner and
    project indexes find them). None when there are none to add."""
    if parts.everything or parts.personal is None:
        return None
    outside = parts.personal & ~parts.public_q()
    if parts.facility_ids is not None:
        outside &= ~Q(facility_id__in=parts.facility_ids)
    return outside


def cell_rows(condition: SQL | None) -> SQL:
    """The cells (as facet rows) that match ``condition``; None: every cell."""
    sql = _CELL_SQL.format(table=CELL_TABLE)
    if condition is None:
        return sql, []
    return f"{sql} WHERE {condition[0]}", list(condition[1])


def pairs_condition(pairs: Sequence[tuple[str, str]]) -> SQL:
    """SQL matching cells of any of these (status, visibility) pairs."""
    if not pairs:
        return "false", []
    where = " OR ".join("(status = %s AND visibility = %s)" for _ in pairs)
    return f"({where})", [value for pair in pairs for value in pair]


#: Columns of the facet cells an exact filter of the API's dataset list can be counted on.
CELL_FILTER_COLUMNS = frozenset(
    {"status", "visibility", "technique", "facility_id", "instrument_id"}
)


def count_from_cells(user: Any, exact: Mapping[str, Any]) -> int | None:
    """How many datasets ``user`` may see whose ``exact`` columns have the given values, read
    from the facet cells of migration 0005 (one row per combination, not per dataset). None
    where there are no cells (SQLite): count the datasets instead.

    What a user sees, in the parts ``repository.access.visible_parts`` gives, counted so that
    none is counted twice: the whole cells of :func:`visible_cells` (every cell for a site
    admin), plus the datasets of :func:`personal_outside_cells`.

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
    signed_in = access.is_signed_in(user) and not access.is_site_admin(user)
    projects = list(access.insider_project_ids(user)) if signed_in else None
    parts = access.visible_parts(user, project_ids=projects)
    seen = visible_cells(parts)
    if seen is not None:
        conditions.append(seen[0])
        params += seen[1]
    personal: SQL | None = None
    outside = personal_outside_cells(parts)
    if outside is not None:
        own = Dataset.objects.filter(outside, **exact).order_by().values("pk")
        own_sql, own_params = own.query.sql_with_params()
        personal = own_sql, list(own_params)
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
