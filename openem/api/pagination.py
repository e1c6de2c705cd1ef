"""Pagination: numbered pages with a count for datasets and other short lists; cursors for files,
where a dataset may hold 10^6 rows and neither COUNT(*) nor OFFSET may be paid per page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property
from rest_framework import exceptions, pagination
from rest_framework.request import Request
from rest_framework.response import Response

#: How long a dataset list's count is reused while paging (as the search page's facet counts).
COUNT_CACHE_SECONDS = 30


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=N`` (and ``?page_size=``, at most 200); 50 per page, with ``count``."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class _IdsFirstPaginator(Paginator):
    """Pages of a queryset read as ids first (from an index, without the wide rows), then the
    rows of those ids; the count is kept in the cache for a few seconds under ``count_key``,
    so that paging through a result counts it once."""

    def __init__(
        self,
        object_list: Any,
        per_page: int,
        *,
        count_key: str = "",
        counter: Callable[[], int] | None = None,
        **kwargs: Any,
    ):
        super().__init__(object_list, per_page, **kwargs)
        self.count_key, self.counter = count_key, counter

    def _count(self) -> int:
        return self.counter() if self.counter is not None else int(super().count)

    @cached_property
    def count(self) -> int:
        if not self.count_key:
            return self._count()
        found = cache.get(self.count_key)
        if found is None:
            found = self._count()
            cache.set(self.count_key, found, COUNT_CACHE_SECONDS)
        return int(found)

    def page(self, number: Any) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        queryset: QuerySet[Any] = self.object_list  # type: ignore[assignment]
        ids = list(queryset.values_list("pk", flat=True)[bottom : bottom + self.per_page])
        related = queryset.query.select_related
        rows = queryset.model._default_manager.select_related(
            *(related if isinstance(related, dict) else ())
        ).in_bulk(ids)
        return Page([rows[pk] for pk in ids if pk in rows], number, self)


class DatasetPagination(PageNumberPagination):
    """Numbered pages of datasets, read ids first. The caller may pass a cache key for the count
    (``count_key``), a cheaper way to count (``counter``) and extra fields for the page
    (``extra``) to :meth:`paginate_queryset`."""

    count_key: str = ""
    counter: Callable[[], int] | None = None
    extra: dict[str, Any] | None = None

    def django_paginator_class(self, object_list: Any, per_page: int) -> Paginator:  # type: ignore[override]
        return _IdsFirstPaginator(
            object_list, per_page, count_key=self.count_key, counter=self.counter
        )

    def paginate_queryset(
        self,
        queryset: Any,
        request: Request,
        view: Any = None,
        *,
        count_key: str = "",
        counter: Callable[[], int] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Any:
        self.count_key, self.counter, self.extra = count_key, counter, extra
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data: Any) -> Response:
        response = super().get_paginated_response(data)
        response.data.update(self.extra or {})
        return response

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["facets"] = {
            "type": "object",
            "description": "With `facets=true`: per facet (technique, facility, instrument, "
            "detector, year, licence, visibility), its values with their counts.",
            "example": {
                "technique": [
                    {
                        "value": "spa",
                        "label": "Single-particle analysis",
                        "count": 1204,
                        "selected": True,
                    }
                ]
            },
            "additionalProperties": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "value": {"type": "string"},
                        "label": {"type": "string"},
                        "count": {"type": "integer"},
                        "selected": {"type": "boolean"},
                    },
                },
            },
        }
        return paginated


class FileCursorPagination(pagination.CursorPagination):
    """``?cursor=`` links over files, ordered by ``path`` (default) or ``id``; 100 per page."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "path"
    ordering_query_param = "ordering"
    orderings = ("path", "-path", "id", "-id")

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> tuple[str, ...]:
        # Both orderings are unique within a dataset, as cursor pagination requires.
        requested = request.query_params.get(self.ordering_query_param) or self.ordering
        if requested not in self.orderings:
            raise exceptions.ValidationError(
                {self.ordering_query_param: [f"must be one of {', '.join(self.orderings)}"]}
            )
        return (requested,)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.ordering_query_param:
                parameter["schema"] = {"type": "string", "enum": list(self.orderings)}
                parameter["description"] = "Order of the files (unique within a dataset)."
        if not any(p["name"] == self.ordering_query_param for p in parameters):
            parameters.append(
                {
                    "name": self.ordering_query_param,
                    "required": False,
                    "in": "query",
                    "description": "Order of the files (unique within a dataset).",
                    "schema": {"type": "string", "enum": list(self.orderings)},
                }
            )
        return parameters
