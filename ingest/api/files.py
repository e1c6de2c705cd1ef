"""The files of an upload session: list them, register a batch."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from ingest import serializers as s
from ingest import uploads
from openem.api.exceptions import error_responses
from openem.api.pagination import FileCursorPagination
from openem.api.throttling import UPLOAD_THROTTLES
from openem.api.views import ApiView
from openem.errors import ValidationFailed
from repository.models import DataFile, FileState
from repository.paths import starts_with

from . import docs
from .docs import SESSION_ID
from .lookups import AUTHENTICATED, get_session, serializer_context


class UploadFilesView(ApiView[DataFile]):
    permission_classes = AUTHENTICATED
    throttle_classes = UPLOAD_THROTTLES  # many requests per session: a budget of their own
    pagination_class = FileCursorPagination
    serializer_class = s.UploadFileSerializer

    @extend_schema(
        operation_id="uploads_files_list",
        summary="List the files of an upload session",
        description=docs.UPLOADS_FILES_LIST,
        parameters=[
            SESSION_ID,
            OpenApiParameter(
                "state", str, enum=FileState.values, description="Only files in this state."
            ),
            OpenApiParameter("prefix", str, description="Only paths starting with this."),
        ],
        responses={200: s.UploadFileSerializer(many=True), **error_responses(400, 401, 404, 429)},
    )
    def get(self, request: Request, session_id: int) -> Response:
        session = get_session(request, session_id)
        files = DataFile.objects.filter(upload_session=session)
        state = request.query_params.get("state")
        if state:
            if state not in FileState.values:
                raise ValidationFailed(f"state must be one of {', '.join(FileState.values)}")
            files = files.filter(state=state)
        prefix = request.query_params.get("prefix")
        if prefix:
            files = files.filter(starts_with("path", prefix))
        page = self.paginate_queryset(files)
        serializer = s.UploadFileSerializer(page, many=True, context=serializer_context(request))
        return self.get_paginated_response(serializer.data)

    @extend_schema(
        operation_id="uploads_files_register",
        summary="Register files (batch)",
        description=docs.UPLOADS_FILES_REGISTER,
        parameters=[SESSION_ID],
        request=s.RegisterFilesInputSerializer,
        responses={
            201: s.RegisteredFilesSerializer,
            **error_responses(400, 401, 403, 404, 409, 429),
        },
        examples=docs.UPLOADS_FILES_REGISTER_EXAMPLES,
    )
    def post(self, request: Request, session_id: int) -> Response:
        session = get_session(request, session_id)
        data = s.RegisterFilesInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rows = uploads.upload_session_register_files(
            actor=request.user, session=session, entries=data.validated_data["files"]
        )
        body = s.RegisteredFilesSerializer(
            {"files": rows}, context=serializer_context(request)
        ).data
        return Response(body, status=status.HTTP_201_CREATED)
