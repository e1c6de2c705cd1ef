"""The files of an upload session: list them, register a batch."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
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

from .docs import EXAMPLE_FILE, SESSION_ID, error_example
from .lookups import AUTHENTICATED, get_session, serializer_context


class UploadFilesView(ApiView[DataFile]):
    permission_classes = AUTHENTICATED
    throttle_classes = UPLOAD_THROTTLES  # many requests per session: a budget of their own
    pagination_class = FileCursorPagination
    serializer_class = s.UploadFileSerializer

    @extend_schema(
        operation_id="uploads_files_list",
        summary="List the files of an upload session",
        description="Cursor-paginated (follow `next`, up to 1000 per page). A resuming client "
        "sends the bytes of the files still `registered`, as each one's `upload` says.",
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
        description="Up to 10,000 files per request: relative path, size in bytes (0 allowed) "
        "and, optionally, the SHA-256 that ingest must find. All or nothing: if any entry is "
        "refused, none is registered and `details` lists every problem with its `index`. "
        "Each registered file comes back with its id and how to send its bytes.",
        parameters=[SESSION_ID],
        request=s.RegisterFilesInputSerializer,
        responses={
            201: s.RegisteredFilesSerializer,
            **error_responses(400, 401, 403, 404, 409, 429),
        },
        examples=[
            OpenApiExample(
                "Two movies",
                request_only=True,
                value={
                    "files": [
                        {
                            "path": "Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_2.eer",
                            "size": 402653184,
                            "sha256": EXAMPLE_FILE["sha256"],
                        },
                        {"path": "Images-Disc1/GridSquare_1/GridSquare_1.xml", "size": 5120},
                    ]
                },
            ),
            OpenApiExample(
                "Registered",
                response_only=True,
                status_codes=["201"],
                value={"files": [EXAMPLE_FILE]},
            ),
            error_example(
                "Refused entries",
                "validation_failed",
                "2 of 1000 files cannot be registered",
                [
                    {
                        "index": 3,
                        "path": "../etc/passwd",
                        "message": "the file path '../etc/passwd' leaves the session folder ('..')",
                    },
                    {"index": 17, "path": "a/b.mrc", "message": "duplicate of entry 4"},
                ],
                "400",
            ),
        ],
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
