"""The schema registry in the API: ``/api/v1/schemas/`` (list), ``/api/v1/schemas/<name>/<version>/``
(one version, ``latest`` for the newest active one) and ``.../document`` (the JSON Schema itself,
for validating metadata before it is sent).

Schemas are public: they describe what the portal accepts, not anyone's data. Views parse input
with a serializer, call one selector of ``metadata.selectors`` and render.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from metadata.models import Technique
from openem.api.authentication import TokenScopePermission
from openem.api.exceptions import error_responses
from openem.api.pagination import PageNumberPagination
from openem.api.views import ApiView

from . import api_docs as docs
from . import selectors
from .api_docs import NAME, VERSION
from .models import MetadataSchema, SchemaStatus

READ_ONLY = [TokenScopePermission, permissions.AllowAny]
LATEST = "latest"


class SchemaSerializer(serializers.ModelSerializer[MetadataSchema]):
    url = serializers.SerializerMethodField(help_text="This version in the API.")
    document_url = serializers.SerializerMethodField(help_text="The JSON Schema document.")
    title = serializers.SerializerMethodField(help_text="The document's own title, if any.")
    techniques = serializers.ListField(
        child=serializers.CharField(), help_text="Techniques the schema applies to."
    )

    class Meta:
        model = MetadataSchema
        fields = [
            "name",
            "version",
            "url",
            "document_url",
            "title",
            "techniques",
            "status",
            "builtin",
            "source_url",
            "created",
        ]
        read_only_fields = fields

    def _link(self, schema: MetadataSchema, view_name: str) -> str:
        return reverse(
            view_name,
            kwargs={"name": schema.name, "version": schema.version},
            request=self.context.get("request"),
        )

    def get_url(self, schema: MetadataSchema) -> str:
        return self._link(schema, "api:schema-detail")

    def get_document_url(self, schema: MetadataSchema) -> str:
        return self._link(schema, "api:schema-document")

    def get_title(self, schema: MetadataSchema) -> str:
        title = schema.document.get("title") if isinstance(schema.document, dict) else None
        return title if isinstance(title, str) else ""


class SchemaListQuerySerializer(serializers.Serializer[Any]):
    name = serializers.CharField(required=False, max_length=100, help_text="Only this schema.")
    technique = serializers.ChoiceField(
        choices=Technique.choices, required=False, help_text="Only schemas for this technique."
    )
    status = serializers.ChoiceField(
        choices=SchemaStatus.choices, required=False, help_text="Only schemas in this state."
    )


def _schema(name: str, version: str) -> MetadataSchema:
    schema = (
        selectors.schema_latest_active(name=name)
        if version == LATEST
        else selectors.schema_get(name=name, version=version)
    )
    if schema is None:
        what = "no active version" if version == LATEST else f"no version {version}"
        raise exceptions.NotFound(f"schema {name} has {what}")
    return schema


class SchemaListView(ApiView[MetadataSchema]):
    permission_classes = READ_ONLY
    pagination_class = PageNumberPagination
    serializer_class = SchemaSerializer

    @extend_schema(
        operation_id="schemas_list",
        summary="List metadata schemas",
        description=docs.SCHEMAS_LIST,
        parameters=[SchemaListQuerySerializer],
        responses={200: SchemaSerializer(many=True), **error_responses(400, 429)},
        examples=docs.SCHEMAS_LIST_EXAMPLES,
    )
    def get(self, request: Request) -> Response:
        params = SchemaListQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        schemas = selectors.schemas_list(
            status=params.validated_data.get("status"),
            name=params.validated_data.get("name"),
            technique=params.validated_data.get("technique"),
        )
        page = self.paginate_queryset(schemas)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class SchemaDetailView(ApiView[MetadataSchema]):
    permission_classes = READ_ONLY
    serializer_class = SchemaSerializer

    @extend_schema(
        operation_id="schemas_retrieve",
        summary="One version of a metadata schema",
        parameters=[NAME, VERSION],
        responses={200: SchemaSerializer, **error_responses(404, 429)},
        examples=docs.SCHEMAS_RETRIEVE_EXAMPLES,
    )
    def get(self, request: Request, name: str, version: str) -> Response:
        return Response(self.get_serializer(_schema(name, version)).data)


class SchemaDocumentView(ApiView[MetadataSchema]):
    permission_classes = READ_ONLY

    @extend_schema(
        operation_id="schemas_document",
        summary="The JSON Schema document of a schema version",
        description=docs.SCHEMAS_DOCUMENT,
        parameters=[NAME, VERSION],
        responses={200: OpenApiTypes.OBJECT, **error_responses(404, 429)},
    )
    def get(self, request: Request, name: str, version: str) -> Response:
        schema = _schema(name, version)
        return Response(schema.document, headers={"Cache-Control": "public, max-age=300"})
