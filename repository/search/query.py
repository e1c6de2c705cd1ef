"""What a search asks for: :class:`DatasetQuery`, the one query type of the search page and
the API's dataset list, its limits, and the shareable URL that gives the same result to
anyone allowed to see it.

The page reads a query string leniently (:meth:`DatasetQuery.from_query`): what cannot be
understood is dropped and named in messages, so that a hand-edited URL still gives a page.
The API's input serializer validates its query string strictly and builds the same type.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from django.http import QueryDict

from metadata.search import Condition

from .ranges import RANGES, Range, RangeSpec, format_number

PAGE_SIZE = 20
#: Deeper pages than this are refused with a message (narrow the search instead): OFFSET
#: pagination is cheap near the top and the result count tells how much there is.
MAX_PAGE = 500
MAX_QUERY_LENGTH = 200
MAX_VALUES_PER_FACET = 20


class Sort:
    RELEVANCE = "relevance"  # with words; without them (or without ranking), newest first
    NEWEST = "newest"
    OLDEST = "oldest"
    TITLE = "title"
    TITLE_DESCENDING = "-title"
    #: The orders the search page offers.
    CHOICES = ((RELEVANCE, "Relevance"), (NEWEST, "Newest first"), (TITLE, "Title A-Z"))
    #: The orders the API's ``ordering`` takes.
    ALL = (RELEVANCE, NEWEST, OLDEST, TITLE, TITLE_DESCENDING)


class Dated:
    """Which date orders the datasets newest (and oldest) first."""

    #: When it was listed: published, or created for drafts (the pages).
    LISTED = "listed"
    #: When it was created (the API).
    CREATED = "created"


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
FACET_NAMES = tuple(FACET_LABELS)


@dataclass(frozen=True)
class DatasetQuery:
    """One search of datasets; immutable, so building links never changes it.

    A facet (technique, facility slug, instrument id, detector, year, licence, visibility)
    takes one value or several, which are OR-ed (one value may be given as such); everything
    else must hold as well. ``status`` to ``metadata`` are filters of the API's list that the
    page does not offer and no facet counts."""

    q: str = ""
    technique: tuple[str, ...] = ()
    facility: tuple[str, ...] = ()
    instrument: tuple[str, ...] = ()
    detector: tuple[str, ...] = ()
    year: tuple[str, ...] = ()
    licence: tuple[str, ...] = ()
    visibility: tuple[str, ...] = ()
    #: ``(key, low, high)`` of :data:`~repository.search.ranges.RANGES`
    ranges: tuple[Range, ...] = ()
    status: str = ""
    kind: str = ""
    project: str = ""
    keyword: str = ""
    created_after: dt.date | None = None
    created_before: dt.date | None = None
    metadata: tuple[Condition, ...] = ()
    sort: str = ""
    dated: str = Dated.LISTED
    page: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "q", " ".join(self.q.split())[:MAX_QUERY_LENGTH])
        for name in FACET_NAMES:
            value: Any = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, ())
            elif isinstance(value, str | int):  # one value
                object.__setattr__(self, name, (str(value),))

    # -- reading a request -------------------------------------------------------------------

    @classmethod
    def from_query(cls, data: QueryDict | Mapping[str, Any]) -> tuple[DatasetQuery, list[str]]:
        """Parse a query string leniently: what cannot be understood is dropped and named in
        the returned messages, so a hand-edited URL still gives a page, never an error."""
        problems: list[str] = []
        raw_getlist = data.getlist if isinstance(data, QueryDict) else _mapping_getlist(data)
        nul = "\x00"  # PostgreSQL refuses NUL in a query: left out, not a server error
        if any(nul in str(v) for key in data for v in raw_getlist(key)):
            problems.append("NUL characters in the search were left out.")

        def getlist(name: str) -> list[str]:
            return [str(v).replace(nul, "") for v in raw_getlist(name) if v is not None]

        def get(name: str) -> str:
            values = getlist(name)
            return values[-1] if values else ""

        q = " ".join(get("q").split())
        if len(q) > MAX_QUERY_LENGTH:
            problems.append(f"The search text was cut to {MAX_QUERY_LENGTH} characters.")
            q = q[:MAX_QUERY_LENGTH]
        sort = get("sort")
        if sort and sort not in dict(Sort.CHOICES):
            problems.append(f"Unknown sort order {sort[:30]!r}; showing the default order.")
            sort = ""
        page = _positive_int(get("page") or None, default=1)
        if page > MAX_PAGE:
            problems.append(
                f"Only the first {MAX_PAGE} pages can be shown; narrow the search with "
                "the filters instead."
            )
            page = MAX_PAGE
        filters: dict[str, Any] = {}
        for name in FACET_NAMES:
            values = tuple(dict.fromkeys(v.strip() for v in getlist(name) if v and v.strip()))
            if len(values) > MAX_VALUES_PER_FACET:
                problems.append(f"At most {MAX_VALUES_PER_FACET} values per filter are used.")
                values = values[:MAX_VALUES_PER_FACET]
            filters[name] = values
        ranges = []
        for spec in RANGES:
            low = _number(get(f"{spec.key}_min") or None, spec, "minimum", problems)
            high = _number(get(f"{spec.key}_max") or None, spec, "maximum", problems)
            if low is not None and high is not None and low > high:
                problems.append(f"{spec.label}: the minimum is above the maximum; swapped them.")
                low, high = high, low
            if low is not None or high is not None:
                ranges.append((spec.key, low, high))
        return cls(q=q, sort=sort, page=page, ranges=tuple(ranges), **filters), problems

    # -- what it asks for ----------------------------------------------------------------------

    @property
    def effective_sort(self) -> str:
        if self.sort:
            return self.sort
        return Sort.RELEVANCE if self.q else Sort.NEWEST

    def values(self, facet: str) -> tuple[str, ...]:
        values: tuple[str, ...] = getattr(self, facet)
        return values

    @property
    def filters(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """``(facet, values)`` of the facets with chosen values, in the order of FACETS."""
        return tuple((name, self.values(name)) for name in FACET_NAMES if self.values(name))

    @property
    def narrows(self) -> bool:
        """Whether it asks for more than facet values (words, ranges, the API's other
        filters): then each matching dataset is read, the facet cells cannot say."""
        return bool(
            self.q
            or self.ranges
            or self.status
            or self.kind
            or self.project
            or self.keyword
            or self.created_after
            or self.created_before
            or self.metadata
        )

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
        """The search page's query string of what the page offers (not the API's filters)."""
        pairs: list[tuple[str, str]] = []
        if self.q:
            pairs.append(("q", self.q))
        for name, values in self.filters:
            pairs.extend((name, value) for value in values)
        for key, low, high in self.ranges:
            if low is not None:
                pairs.append((f"{key}_min", format_number(low)))
            if high is not None:
                pairs.append((f"{key}_max", format_number(high)))
        if self.sort:
            pairs.append(("sort", self.sort))
        if self.page > 1:
            pairs.append(("page", str(self.page)))
        return pairs

    def url(self) -> str:
        """The query string of this search (with a leading ``?``, or empty)."""
        pairs = self.query_pairs()
        return "?" + urlencode(pairs) if pairs else "?"

    def toggled(self, facet: str, value: str) -> DatasetQuery:
        current = self.values(facet)
        values = tuple(v for v in current if v != value) if value in current else (*current, value)
        changed: dict[str, Any] = {facet: values}
        return replace(self, page=1, **changed)

    def without_range(self, key: str) -> DatasetQuery:
        return replace(self, ranges=tuple(r for r in self.ranges if r[0] != key), page=1)

    def with_page(self, page: int) -> DatasetQuery:
        return replace(self, page=page)

    def with_sort(self, sort: str) -> DatasetQuery:
        return replace(self, sort=sort, page=1)


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
