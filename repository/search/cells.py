"""The facet cells of migration 0005: datasets counted per combination of status,
visibility and facet values, kept exact by triggers on the dataset table, so that counts of
what everyone may see read a few thousand cells instead of every dataset (PostgreSQL).

What a user may see is asked of ``repository.access``, never restated here.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth.models import AnonymousUser
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


def public_cells() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
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


def cell_rows(pairs: Sequence[tuple[str, str]] | None) -> SQL:
    sql = _CELL_SQL.format(table=CELL_TABLE)
    if pairs is None:
        return sql, []
    where, params = pairs_condition(pairs)
    return f"{sql} WHERE {where}", params


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
        public, _others = public_cells()
        seen, seen_params = pairs_condition(public)
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
