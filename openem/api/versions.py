"""The API's version and the oldest ``openem-client`` it works with, announced to clients.

``GET /api/v1/`` answers them as JSON, and every ``/api/`` response carries them as headers
(``OpenEM-API-Version``, ``OpenEM-Min-Client-Version``), so the client checks them on its
first request without asking for them apart. Raise ``API_VERSION``'s minor number when the
API gains something; raise ``MIN_CLIENT_VERSION`` when a change breaks older clients (they
then stop with a message asking to upgrade, instead of failing in some odd way).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from .views import ApiView

#: ``major.minor``: the major number is the ``v1`` in the URLs.
API_VERSION = "1.1"
#: The oldest ``openem-client`` that works with this API.
MIN_CLIENT_VERSION = "0.2.0"
CLIENT_DISTRIBUTION = "openem-client"

API_VERSION_HEADER = "OpenEM-API-Version"
MIN_CLIENT_HEADER = "OpenEM-Min-Client-Version"


def version_headers() -> dict[str, str]:
    return {API_VERSION_HEADER: API_VERSION, MIN_CLIENT_HEADER: MIN_CLIENT_VERSION}


class ApiVersionHeadersMiddleware:
    """Every response under ``/api/`` (errors too) says the API's version and the oldest
    client it takes."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/api/"):
            for name, value in version_headers().items():
                response.headers.setdefault(name, value)
        return response


class ApiRootView(ApiView[Any]):
    authentication_classes: list[type] = []  # public, and a bad token must not hide it
    http_method_names = ["get", "head", "options"]

    @extend_schema(
        operation_id="api_root",
        summary="The API's version and the oldest client it works with",
        responses={
            200: inline_serializer(
                "ApiRoot",
                {
                    "name": serializers.CharField(),
                    "api_version": serializers.CharField(help_text="major.minor"),
                    "min_client_version": serializers.CharField(
                        help_text="the oldest openem-client that works with this API"
                    ),
                    "client": serializers.CharField(help_text="the client's distribution"),
                    "schema_url": serializers.URLField(),
                    "docs_url": serializers.URLField(),
                },
            )
        },
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "name": "OpenEM portal API",
                "api_version": API_VERSION,
                "min_client_version": MIN_CLIENT_VERSION,
                "client": CLIENT_DISTRIBUTION,
                "schema_url": request.build_absolute_uri("/api/schema/"),
                "docs_url": request.build_absolute_uri("/api/docs/"),
            }
        )
