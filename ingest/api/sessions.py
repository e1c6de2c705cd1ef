"""Upload sessions: list, start, read, close, and their ingest status."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from ingest import serializers as s
from ingest import uploads
from ingest.models import UploadSession
from ingest.selectors import upload_session_progress
from openem.api.exceptions import error_responses
from openem.api.pagination import PageNumberPagination
from openem.api.views import ApiView
from repository import access
from repository.models import DataFile, Dataset, FileState

from . import docs
from .docs import SESSION_ID
from .lookups import (
    AUTHENTICATED,
    get_session,
    serializer_context,
    sessions_for_uploader,
    storage_kind,
)

MAX_FAILED_FILES_LISTED = 100


class UploadSessionListView(ApiView[UploadSession]):
    permission_classes = AUTHENTICATED
    pagination_class = PageNumberPagination
    serializer_class = s.UploadSessionSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "storage": storage_kind()}

    @extend_schema(
        operation_id="uploads_list",
        summary="List upload sessions",
        description=docs.UPLOADS_LIST,
        parameters=[s.UploadSessionListQuerySerializer],
        responses={200: s.UploadSessionSerializer(many=True), **error_responses(400, 401, 429)},
    )
    def get(self, request: Request) -> Response:
        params = s.UploadSessionListQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        sessions = sessions_for_uploader(request.user)
        if params.validated_data.get("dataset"):
            sessions = sessions.filter(dataset__pid=params.validated_data["dataset"])
        if params.validated_data.get("state"):
            sessions = sessions.filter(state=params.validated_data["state"])
        page = self.paginate_queryset(sessions.order_by("-created", "-pk"))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="uploads_create",
        summary="Start an upload session",
        description=docs.UPLOADS_CREATE,
        request=s.UploadSessionCreateInputSerializer,
        responses={201: s.UploadSessionSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        examples=docs.UPLOADS_CREATE_EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        data = s.UploadSessionCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pid = data.validated_data["dataset"]
        dataset = access.datasets_visible_to(request.user).filter(pid=pid).first()
        if dataset is None:
            raise exceptions.NotFound(f"no dataset {pid} exists or is visible to you")
        session = uploads.upload_session_create(
            actor=request.user, dataset=dataset, acquiring=data.validated_data["acquiring"]
        )
        body = self.get_serializer(get_session(request, session.pk)).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class UploadSessionDetailView(ApiView[UploadSession]):
    permission_classes = AUTHENTICATED
    serializer_class = s.UploadSessionSerializer

    @extend_schema(
        operation_id="uploads_retrieve",
        summary="An upload session",
        parameters=[SESSION_ID],
        responses={200: s.UploadSessionSerializer, **error_responses(401, 404, 429)},
        examples=docs.UPLOADS_RETRIEVE_EXAMPLES,
    )
    def get(self, request: Request, session_id: int) -> Response:
        session = get_session(request, session_id)
        return Response(
            s.UploadSessionSerializer(session, context=serializer_context(request)).data
        )


class UploadSessionCompleteView(ApiView[UploadSession]):
    permission_classes = AUTHENTICATED
    serializer_class = s.SessionCompletedSerializer

    @extend_schema(
        operation_id="uploads_complete",
        summary="Close an upload session",
        description=docs.UPLOADS_COMPLETE,
        parameters=[SESSION_ID],
        request=None,
        responses={200: s.SessionCompletedSerializer, **error_responses(401, 403, 404, 409, 429)},
        examples=docs.UPLOADS_COMPLETE_EXAMPLES,
    )
    def post(self, request: Request, session_id: int) -> Response:
        session = get_session(request, session_id)
        counts = uploads.upload_session_complete(actor=request.user, session=session)
        session.refresh_from_db()
        body = {"session": session, **counts}
        return Response(
            s.SessionCompletedSerializer(body, context=serializer_context(request)).data
        )


class UploadStatusView(ApiView[UploadSession]):
    permission_classes = AUTHENTICATED
    serializer_class = s.IngestStatusSerializer

    @extend_schema(
        operation_id="uploads_status",
        summary="Ingest status of an upload session",
        description=docs.UPLOADS_STATUS,
        parameters=[SESSION_ID],
        responses={200: s.IngestStatusSerializer, **error_responses(401, 404, 429)},
        examples=docs.UPLOADS_STATUS_EXAMPLES,
    )
    def get(self, request: Request, session_id: int) -> Response:
        session = get_session(request, session_id)
        progress = upload_session_progress(session).as_dict()
        failed = DataFile.objects.filter(upload_session=session, state=FileState.FAILED).order_by(
            "path"
        )[:MAX_FAILED_FILES_LISTED]
        dataset_status = Dataset.objects.filter(pk=session.dataset_id).values_list(
            "status", flat=True
        )[0]
        body = {
            "session": session.pk,
            "dataset": session.dataset.pid,
            "session_state": session.state,
            "dataset_status": dataset_status,
            **progress,
            "failed_files": failed,
        }
        return Response(s.IngestStatusSerializer(body).data)
