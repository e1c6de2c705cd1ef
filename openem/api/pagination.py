"""Pagination: numbered pages with a count for datasets and other short lists; cursors for files,
where a dataset may hold 10^6 rows and neither COUNT(*) nor OFFSET may be paid per page."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, pagination
from rest_framework.request import Request


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=N`` (and ``?page_size=``, at most 200); 50 per page, with ``count``."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


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
