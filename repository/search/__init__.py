"""Dataset search: words, facets with counts, metadata ranges, sort and pages, over what
``repository.access`` lets the user see, for the portal's pages and its API.

- :mod:`.query`: what a search asks for (:class:`DatasetQuery`, the pages' and the API's),
  read from a query string, and its shareable URL;
- :mod:`.text`: the words (ranked full text on PostgreSQL);
- :mod:`.ranges`: the unit-aware min/max filters on metadata quantities;
- :mod:`.facets`: facet filters and counts (one ``GROUPING SETS`` pass on PostgreSQL);
- :mod:`.filters`: the API's other filters (status, kind, project, keyword, dates, metadata);
- :mod:`.cells`: the per-combination counts of migration 0005 behind the facets and totals;
- :mod:`.columns`: the generated search columns of migration 0004 as expressions;
- :mod:`.selectors`: the searches themselves; :mod:`.results`: a page of results.
"""

from .cells import CELL_TABLE, count_from_cells
from .facets import Facet, FacetValue
from .query import FACETS, MAX_PAGE, PAGE_SIZE, DatasetQuery, Dated, Sort
from .ranges import RANGE_BY_KEY, RANGES, RangeSpec, range_filters
from .results import ActiveFilter, SearchResult
from .selectors import (
    dataset_count,
    dataset_count_cache_key,
    dataset_facets,
    dataset_search,
    search_page,
)
from .text import DOCUMENT_SQL, text_search

__all__ = [
    "CELL_TABLE",
    "DOCUMENT_SQL",
    "FACETS",
    "MAX_PAGE",
    "PAGE_SIZE",
    "RANGES",
    "RANGE_BY_KEY",
    "ActiveFilter",
    "Facet",
    "FacetValue",
    "RangeSpec",
    "DatasetQuery",
    "Dated",
    "SearchResult",
    "Sort",
    "count_from_cells",
    "dataset_count",
    "dataset_count_cache_key",
    "dataset_facets",
    "dataset_search",
    "range_filters",
    "search_page",
    "text_search",
]
