"""The OpenAPI schema's view of our endpoints: drf-spectacular's AutoSchema, plus the error
responses that whole kinds of operations can give, so that no view has to remember them:

- 400, 413 and 415 wherever a request body is read (a body that cannot be parsed, a form too
  large, a media type the endpoint does not read);
- 404 on the lists numbered in pages (a page past the last one, or not a page number).

Views document their own errors with ``openem.api.exceptions.error_responses``; these are
added only where a view has not described the status itself.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse

from .exceptions import ErrorSerializer, error_responses
from .pagination import PageNumberPagination

BODY_METHODS = {"POST", "PUT", "PATCH"}


NO_SUCH_PAGE = OpenApiResponse(
    ErrorSerializer, description="No such page (past the last one, or not a page number)."
)


class AutoSchema(openapi.AutoSchema):
    def _generic_errors(self) -> dict[int, OpenApiResponse]:
        errors = {}
        if self.method in BODY_METHODS and self.get_request_serializer() is not None:
            errors.update(error_responses(400, 413, 415))
        if (
            self.method == "GET"
            and isinstance(self._get_paginator(), PageNumberPagination)
            and self._is_list_view()
        ):
            errors[404] = NO_SUCH_PAGE
        return errors

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status, response in self._generic_errors().items():
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(response, str(status))
        return responses
