"""The OpenAPI schema's view of our endpoints: drf-spectacular's AutoSchema, plus the error
responses that whole kinds of operations can give, so that no view has to remember them:

- 400, 413 and 415 wherever a request body is read (a body that cannot be parsed, a form too
  large, a media type the endpoint does not read);
- 404 on the lists numbered in pages (a page past the last one, or not a page number).

And an optional URL (a model's ``URLField(blank=True)``) is served as ``""`` when empty, which
is no ``uri``: its schema is a plain string.

Views document their own errors with ``openem.api.exceptions.error_responses``; these are
added only where a view has not described the status itself.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .exceptions import ErrorSerializer, error_responses
from .pagination import PageNumberPagination

BODY_METHODS = {"POST", "PUT", "PATCH"}


NO_SUCH_PAGE = OpenApiResponse(
    ErrorSerializer, description="No such page (past the last one, or not a page number)."
)


def _may_be_empty(field: serializers.URLField) -> bool:
    if field.allow_blank:
        return True
    # DRF drops allow_blank from read-only model fields: ask the model.
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    if model is None or not field.source or "." in field.source:
        return False
    try:
        return bool(model._meta.get_field(field.source).blank)
    except FieldDoesNotExist:
        return False


class AutoSchema(openapi.AutoSchema):
    def _map_serializer_field(
        self, field: Any, direction: Any, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, serializers.URLField) and _may_be_empty(field):
            schema.pop("format", None)
        return schema

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        super()._insert_field_validators(field, schema)  # a URLValidator adds "uri" again
        if isinstance(field, serializers.URLField) and _may_be_empty(field):
            schema.pop("format", None)

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
