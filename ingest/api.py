"""The upload API: sessions, batch registration, S3 multipart, local chunks, ingest status.

Views parse input with ``ingest.serializers``, call one service of ``ingest.uploads`` (which
asks ``repository.access`` who may upload) or one selector, and render. Errors become the one
JSON shape in ``openem.api.exceptions``.

On S3 storage the bytes never pass through the portal: a client starts a multipart upload per
file, asks for presigned part URLs (many per request), PUTs the parts straight to the bucket and
completes. On local storage (the embedded default) it PUTs chunks to the file's content
endpoint. Either way an interrupted upload resumes: list the parts S3 holds, or ask the content
endpoint for its offset.
"""

from __future__ import annotations

import re
from io import BytesIO
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
)
from rest_framework import exceptions, parsers, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

import storage
from openem.api.authentication import TokenScopePermission
from openem.api.exceptions import error_responses
from openem.api.pagination import FileCursorPagination, PageNumberPagination
from openem.api.throttling import UPLOAD_THROTTLES
from openem.api.views import ApiView
from openem.errors import ValidationFailed
from repository import access
from repository.models import DataFile, Dataset, FileState
from repository.paths import starts_with

from . import serializers as s
from . import uploads
from .models import UploadSession
from .selectors import upload_session_progress

AUTHENTICATED = [TokenScopePermission, permissions.IsAuthenticated]
MAX_FAILED_FILES_LISTED = 100
_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")

SESSION_ID = OpenApiParameter(
    "session_id", int, OpenApiParameter.PATH, description="The upload session's id."
)
FILE_ID = OpenApiParameter(
    "file_id", int, OpenApiParameter.PATH, description="The file's id (from the registration)."
)
UPLOAD_ID = OpenApiParameter(
    "upload_id", str, OpenApiParameter.QUERY, required=True, description="From the start."
)

EXAMPLE_BASE = "https://openem.example.org/api/v1"
EXAMPLE_PID = "oem-7k2m9q4x1z"
EXAMPLE_SESSION = {
    "id": 42,
    "url": f"{EXAMPLE_BASE}/uploads/42/",
    "dataset": EXAMPLE_PID,
    "dataset_url": f"{EXAMPLE_BASE}/datasets/{EXAMPLE_PID}/",
    "state": "open",
    "created_by": "staff",
    "created": "2026-03-02T09:14:00+01:00",
    "completed_at": None,
    "storage": "s3",
    "part_size": 16777216,
    "files_url": f"{EXAMPLE_BASE}/uploads/42/files/",
    "status_url": f"{EXAMPLE_BASE}/uploads/42/status",
    "complete_url": f"{EXAMPLE_BASE}/uploads/42/complete",
}
EXAMPLE_FILE = {
    "id": 1001,
    "path": "Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_2.eer",
    "size": 402653184,
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "state": "registered",
    "checksum_sha256": "",
    "error": "",
    "upload": {
        "method": "multipart",
        "url": f"{EXAMPLE_BASE}/uploads/42/files/1001/multipart",
        "part_size": 16777216,
        "part_count": 24,
    },
}
EXAMPLE_UPLOAD_ID = "2~fT7sVx0bC1wz9Qm3kR8pLhY4"
EXAMPLE_SIGNED_PART = {
    "part_number": 1,
    "url": "https://s3.example.org/openem/datasets/oem-7k2m9q4x1z/files/3f2a...?uploadId=2~fT7s"
    "...&partNumber=1&X-Amz-SignedHeaders=host%3Bx-amz-checksum-crc32&X-Amz-Signature=...",
    "headers": {"x-amz-checksum-crc32": "kuFt+g=="},
}


def _error_example(name: str, code: str, message: str, details: Any, status_code: str) -> Any:
    return OpenApiExample(
        name,
        response_only=True,
        status_codes=[status_code],
        value={"error": {"code": code, "message": message, "details": details}},
    )


# --- the objects a request names, with their access rules ---------------------------------------
# Reads with the upload rule (staff and curators of the dataset's facility, admins); candidates
# for ingest.selectors once a second surface needs them.


def _sessions_for_uploader(user: Any) -> QuerySet[UploadSession]:
    return UploadSession.objects.filter(
        dataset__facility__in=access.facilities_for_upload(user)
    ).select_related("dataset", "dataset__facility", "created_by")


def _session(request: Request, session_id: int) -> UploadSession:
    session = _sessions_for_uploader(request.user).filter(pk=session_id).first()
    if session is None:
        raise exceptions.NotFound(f"no upload session {session_id} exists or is yours to use")
    return session


def _session_file(request: Request, session_id: int, file_id: int) -> DataFile:
    session = _session(request, session_id)
    datafile = (
        DataFile.objects.filter(upload_session=session, pk=file_id)
        .select_related("dataset", "dataset__facility", "upload_session")
        .first()
    )
    if datafile is None:
        raise exceptions.NotFound(f"upload session {session_id} has no file with id {file_id}")
    return datafile


def _storage_kind() -> str:
    return storage.get_store().name


def _context(request: Request) -> dict[str, Any]:
    return {"request": request, "storage": _storage_kind()}


def _file_url(request: Request, name: str, datafile: DataFile) -> str:
    kwargs = {"session_id": datafile.upload_session_id, "file_id": datafile.pk}
    return reverse(name, kwargs=kwargs, request=request)


# --- sessions -----------------------------------------------------------------------------------


class UploadSessionListView(ApiView[UploadSession]):
    permission_classes = AUTHENTICATED
    pagination_class = PageNumberPagination
    serializer_class = s.UploadSessionSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "storage": _storage_kind()}

    @extend_schema(
        operation_id="uploads_list",
        summary="List upload sessions",
        description="Sessions of the facilities where you are staff or curator, newest first. "
        "A client resuming an upload looks for the open session of its dataset here.",
        parameters=[s.UploadSessionListQuerySerializer],
        responses={200: s.UploadSessionSerializer(many=True), **error_responses(400, 401, 429)},
    )
    def get(self, request: Request) -> Response:
        params = s.UploadSessionListQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        sessions = _sessions_for_uploader(request.user)
        if params.validated_data.get("dataset"):
            sessions = sessions.filter(dataset__pid=params.validated_data["dataset"])
        if params.validated_data.get("state"):
            sessions = sessions.filter(state=params.validated_data["state"])
        page = self.paginate_queryset(sessions.order_by("-created", "-pk"))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="uploads_create",
        summary="Start an upload session",
        description="Staff and curators of the dataset's facility: opens a session to register "
        "files into a (not yet published) dataset and send their bytes.",
        request=s.UploadSessionCreateInputSerializer,
        responses={201: s.UploadSessionSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        examples=[
            OpenApiExample("Into a dataset", request_only=True, value={"dataset": EXAMPLE_PID}),
            OpenApiExample(
                "Created", response_only=True, status_codes=["201"], value=EXAMPLE_SESSION
            ),
            _error_example(
                "Not staff of the facility",
                "permission_denied",
                "you are not staff of Cryo-EM Facility Basel, so you cannot upload there",
                None,
                "403",
            ),
        ],
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
        body = self.get_serializer(_session(request, session.pk)).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class UploadSessionDetailView(ApiView[UploadSession]):
    permission_classes = AUTHENTICATED
    serializer_class = s.UploadSessionSerializer

    @extend_schema(
        operation_id="uploads_retrieve",
        summary="An upload session",
        parameters=[SESSION_ID],
        responses={200: s.UploadSessionSerializer, **error_responses(401, 404, 429)},
        examples=[OpenApiExample("Open, on S3", value=EXAMPLE_SESSION)],
    )
    def get(self, request: Request, session_id: int) -> Response:
        session = _session(request, session_id)
        return Response(s.UploadSessionSerializer(session, context=_context(request)).data)


class UploadSessionCompleteView(ApiView[UploadSession]):
    permission_classes = AUTHENTICATED
    serializer_class = s.SessionCompletedSerializer

    @extend_schema(
        operation_id="uploads_complete",
        summary="Close an upload session",
        description="No more files can be registered or sent in it. Files whose bytes never "
        "arrived are counted as missing; the others go on being ingested (see the status).",
        parameters=[SESSION_ID],
        request=None,
        responses={200: s.SessionCompletedSerializer, **error_responses(401, 403, 404, 409, 429)},
        examples=[
            OpenApiExample(
                "Closed",
                value={
                    "session": {**EXAMPLE_SESSION, "state": "completed"},
                    "files": 1800,
                    "missing_files": 0,
                },
            )
        ],
    )
    def post(self, request: Request, session_id: int) -> Response:
        session = _session(request, session_id)
        counts = uploads.upload_session_complete(actor=request.user, session=session)
        session.refresh_from_db()
        body = {"session": session, **counts}
        return Response(s.SessionCompletedSerializer(body, context=_context(request)).data)


class UploadStatusView(ApiView[UploadSession]):
    permission_classes = AUTHENTICATED
    serializer_class = s.IngestStatusSerializer

    @extend_schema(
        operation_id="uploads_status",
        summary="Ingest status of an upload session",
        description="Files and bytes by outcome, files per state, and the failed files with "
        "the reasons. One aggregate query: cheap to poll.",
        parameters=[SESSION_ID],
        responses={200: s.IngestStatusSerializer, **error_responses(401, 404, 429)},
        examples=[
            OpenApiExample(
                "One file failed",
                value={
                    "session": 42,
                    "dataset": EXAMPLE_PID,
                    "session_state": "completed",
                    "dataset_status": "ingesting",
                    "files_total": 3,
                    "files_done": 1,
                    "files_failed": 1,
                    "files_pending": 1,
                    "bytes_total": 3000,
                    "bytes_done": 1000,
                    "bytes_failed": 1000,
                    "bytes_pending": 1000,
                    "files_by_state": {
                        "registered": 0,
                        "stored": 0,
                        "processing": 1,
                        "ready": 1,
                        "failed": 1,
                    },
                    "settled": False,
                    "fraction_settled": 0.667,
                    "failed_files": [
                        {
                            "id": 1003,
                            "path": "Images-Disc1/broken.mrc",
                            "size": 1000,
                            "error": "the MRC header says 4096 bytes of data, the file has 976",
                        }
                    ],
                },
            )
        ],
    )
    def get(self, request: Request, session_id: int) -> Response:
        session = _session(request, session_id)
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


# --- files --------------------------------------------------------------------------------------


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
        session = _session(request, session_id)
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
        serializer = s.UploadFileSerializer(page, many=True, context=_context(request))
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
            _error_example(
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
        session = _session(request, session_id)
        data = s.RegisterFilesInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rows = uploads.upload_session_register_files(
            actor=request.user, session=session, entries=data.validated_data["files"]
        )
        body = s.RegisteredFilesSerializer({"files": rows}, context=_context(request)).data
        return Response(body, status=status.HTTP_201_CREATED)


# --- S3 multipart -------------------------------------------------------------------------------


SignedParts = dict[int, tuple[str, dict[str, str]]]


def _signed_parts(signed: SignedParts) -> list[dict[str, Any]]:
    return [
        {"part_number": n, "url": url, "headers": headers}
        for n, (url, headers) in sorted(signed.items())
    ]


def _multipart_start_body(
    request: Request, datafile: DataFile, info: dict[str, Any], signed: SignedParts
) -> Any:
    return s.MultipartStartSerializer(
        {
            **info,
            "parts_url": _file_url(request, "api:upload-multipart-parts", datafile),
            "complete_url": _file_url(request, "api:upload-multipart-complete", datafile),
            "expires_in": settings.OPENEM_PRESIGN_EXPIRY,
            "parts": _signed_parts(signed),
        }
    ).data


def _checksums_of(parts: list[dict[str, Any]]) -> dict[int, str]:
    return {int(p["part_number"]): str(p["checksum_crc32"]) for p in parts}


class MultipartView(ApiView[DataFile]):
    permission_classes = AUTHENTICATED
    throttle_classes = UPLOAD_THROTTLES  # many requests per session: a budget of their own
    serializer_class = s.MultipartStartSerializer

    @extend_schema(
        operation_id="uploads_multipart_start",
        summary="Start (or resume) the multipart upload of a file",
        description="S3 storage. Idempotent: a file whose upload was started before gets the "
        "same `upload_id` back, so an interrupted client lists the parts and continues. "
        "`parts` (numbers with their CRC32) presigns part URLs in the same request: a file "
        "of one part needs no other request to be signed.",
        parameters=[SESSION_ID, FILE_ID],
        request=s.MultipartStartInputSerializer,
        responses={200: s.MultipartStartSerializer, **error_responses(401, 403, 404, 409, 429)},
        examples=[
            OpenApiExample(
                "Started",
                value={
                    "upload_id": EXAMPLE_UPLOAD_ID,
                    "part_size": 16777216,
                    "part_count": 24,
                    "parts_url": f"{EXAMPLE_BASE}/uploads/42/files/1001/multipart/parts",
                    "complete_url": f"{EXAMPLE_BASE}/uploads/42/files/1001/multipart/complete",
                    "expires_in": 3600,
                    "parts": [EXAMPLE_SIGNED_PART],
                },
            ),
            OpenApiExample(
                "With the first part's URL",
                request_only=True,
                value={"parts": [{"part_number": 1, "checksum_crc32": "kuFt+g=="}]},
            ),
            _error_example(
                "Already stored",
                "conflict",
                "Images-Disc1/FoilHole_1_Data_2.eer is already uploaded (stored)",
                None,
                "409",
            ),
        ],
    )
    def post(self, request: Request, session_id: int, file_id: int) -> Response:
        datafile = _session_file(request, session_id, file_id)
        data = s.MultipartStartInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        info = uploads.upload_multipart_start(actor=request.user, datafile=datafile)
        signed: SignedParts = {}
        wanted = _checksums_of(data.validated_data.get("parts") or [])
        if wanted:
            signed = uploads.upload_multipart_sign_parts(
                actor=request.user, datafile=datafile, upload_id=info["upload_id"], parts=wanted
            )
        return Response(_multipart_start_body(request, datafile, info, signed))

    @extend_schema(
        operation_id="uploads_multipart_abort",
        summary="Abort the multipart upload of a file",
        description="S3 drops the parts received; the file stays registered and can be "
        "started again.",
        parameters=[SESSION_ID, FILE_ID, UPLOAD_ID],
        responses={204: None, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def delete(self, request: Request, session_id: int, file_id: int) -> Response:
        datafile = _session_file(request, session_id, file_id)
        params = s.UploadIdQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        uploads.upload_multipart_abort(
            actor=request.user, datafile=datafile, upload_id=params.validated_data["upload_id"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MultipartPartsView(ApiView[DataFile]):
    permission_classes = AUTHENTICATED
    throttle_classes = UPLOAD_THROTTLES  # many requests per session: a budget of their own
    serializer_class = s.SignedPartsSerializer

    @extend_schema(
        operation_id="uploads_multipart_parts_sign",
        summary="Presign part URLs",
        description="Up to 1000 parts per request, each with its CRC32. PUT each part's "
        "bytes to its URL (straight to S3) with the `headers` given and keep the `ETag` "
        "response header. S3 refuses a part whose bytes do not match its CRC32.",
        parameters=[SESSION_ID, FILE_ID],
        request=s.SignPartsInputSerializer,
        responses={200: s.SignedPartsSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        examples=[
            OpenApiExample(
                "Parts 1 and 2",
                request_only=True,
                value={
                    "upload_id": EXAMPLE_UPLOAD_ID,
                    "parts": [
                        {"part_number": 1, "checksum_crc32": "kuFt+g=="},
                        {"part_number": 2, "checksum_crc32": "Vb3jBQ=="},
                    ],
                },
            ),
            OpenApiExample(
                "Signed",
                response_only=True,
                value={
                    "upload_id": EXAMPLE_UPLOAD_ID,
                    "expires_in": 3600,
                    "parts": [EXAMPLE_SIGNED_PART],
                },
            ),
        ],
    )
    def post(self, request: Request, session_id: int, file_id: int) -> Response:
        datafile = _session_file(request, session_id, file_id)
        data = s.SignPartsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload_id = data.validated_data["upload_id"]
        signed = uploads.upload_multipart_sign_parts(
            actor=request.user,
            datafile=datafile,
            upload_id=upload_id,
            parts=_checksums_of(data.validated_data["parts"]),
        )
        body = {
            "upload_id": upload_id,
            "expires_in": settings.OPENEM_PRESIGN_EXPIRY,
            "parts": _signed_parts(signed),
        }
        return Response(s.SignedPartsSerializer(body).data)

    @extend_schema(
        operation_id="uploads_multipart_parts_list",
        summary="List the parts S3 has received",
        description="For resuming: send only the parts missing here, then complete.",
        parameters=[SESSION_ID, FILE_ID, UPLOAD_ID],
        responses={
            200: s.UploadedPartsSerializer,
            **error_responses(400, 401, 403, 404, 409, 429),
        },
        examples=[
            OpenApiExample(
                "Two of six parts",
                value={
                    "upload_id": EXAMPLE_UPLOAD_ID,
                    "part_size": 16777216,
                    "part_count": 24,
                    "parts": [
                        {
                            "part_number": 1,
                            "etag": '"b1946ac92492d2347c6235b4d2611184"',
                            "size": 16777216,
                            "checksum_crc32": "kuFt+g==",
                        },
                        {
                            "part_number": 2,
                            "etag": '"591785b794601e212b260e25925636fd"',
                            "size": 16777216,
                            "checksum_crc32": "Vb3jBQ==",
                        },
                    ],
                },
            )
        ],
    )
    def get(self, request: Request, session_id: int, file_id: int) -> Response:
        datafile = _session_file(request, session_id, file_id)
        params = s.UploadIdQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        upload_id = params.validated_data["upload_id"]
        listed = uploads.upload_multipart_list_parts(
            actor=request.user, datafile=datafile, upload_id=upload_id
        )
        body = {
            "upload_id": upload_id,
            "part_size": uploads.part_size_for(datafile.size),
            "part_count": uploads.part_count_for(datafile.size),
            "parts": [
                {
                    "part_number": p["PartNumber"],
                    "etag": p["ETag"],
                    "size": p["Size"],
                    "checksum_crc32": p.get("ChecksumCRC32") or "",
                }
                for p in listed
            ],
        }
        return Response(s.UploadedPartsSerializer(body).data)


class MultipartCompleteView(ApiView[DataFile]):
    permission_classes = AUTHENTICATED
    throttle_classes = UPLOAD_THROTTLES  # many requests per session: a budget of their own
    serializer_class = s.UploadFileSerializer

    @extend_schema(
        operation_id="uploads_multipart_complete",
        summary="Complete the multipart upload of a file",
        description="Checks that S3 holds every byte of the registered size, assembles the "
        "object and queues the file for ingest (state `stored`).",
        parameters=[SESSION_ID, FILE_ID],
        request=s.CompleteMultipartInputSerializer,
        responses={200: s.UploadFileSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        examples=[
            OpenApiExample(
                "With the server's list of parts",
                request_only=True,
                value={"upload_id": EXAMPLE_UPLOAD_ID},
            ),
            OpenApiExample(
                "Stored",
                response_only=True,
                value={**EXAMPLE_FILE, "state": "stored", "upload": None},
            ),
            _error_example(
                "Parts missing",
                "validation_failed",
                "Images-Disc1/FoilHole_1_Data_2.eer: 134217728 of 402653184 bytes uploaded; "
                "upload the missing parts first",
                {"uploaded_bytes": 134217728, "expected_bytes": 402653184},
                "400",
            ),
        ],
    )
    def post(self, request: Request, session_id: int, file_id: int) -> Response:
        datafile = _session_file(request, session_id, file_id)
        data = s.CompleteMultipartInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        parts = [
            {"PartNumber": p["part_number"], "ETag": p["etag"]}
            | ({"ChecksumCRC32": p["checksum_crc32"]} if p.get("checksum_crc32") else {})
            for p in data.validated_data.get("parts") or []
        ]
        datafile = uploads.upload_multipart_complete(
            actor=request.user,
            datafile=datafile,
            upload_id=data.validated_data["upload_id"],
            parts=parts or None,
            sha256=data.validated_data.get("sha256") or "",
        )
        return Response(s.UploadFileSerializer(datafile, context=_context(request)).data)


# --- local chunks ---------------------------------------------------------------------------------


class RawBytesParser(parsers.BaseParser):
    """The body is the chunk itself; the view streams it to storage (never parsed in memory)."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return stream


def _chunk_position(request: Request, datafile: DataFile) -> tuple[int, int, str]:
    """(offset, length) of the chunk in the body, from Content-Range or ?offset=, and the
    ?sha256= declared with it."""
    params = s.ChunkQuerySerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    sha256 = params.validated_data.get("sha256") or ""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ValidationFailed("the Content-Length header is not a number") from None
    content_range = request.headers.get("Content-Range")
    if content_range:
        match = _CONTENT_RANGE_RE.match(content_range.strip())
        if match is None:
            raise ValidationFailed(
                f"Content-Range must look like 'bytes 0-1048575/{datafile.size}', "
                f"not {content_range!r}"
            )
        start, end, total = match.groups()
        if int(end) - int(start) + 1 != length:
            raise ValidationFailed(
                f"Content-Range announces {int(end) - int(start) + 1} bytes, "
                f"Content-Length {length}"
            )
        if total != "*" and int(total) != datafile.size:
            raise ValidationFailed(
                f"{datafile.path} was registered with {datafile.size} bytes, "
                f"Content-Range says {total}"
            )
        return int(start), length, sha256
    if "offset" not in params.validated_data:
        raise ValidationFailed(
            "say where the chunk goes: a Content-Range header or an ?offset= parameter"
        )
    return int(params.validated_data["offset"]), length, sha256


def _offset_response(datafile: DataFile, offset: int) -> Response:
    complete = datafile.state != FileState.REGISTERED
    body = {"offset": offset, "size": datafile.size, "state": datafile.state, "complete": complete}
    return Response(s.ChunkOffsetSerializer(body).data, headers={"Upload-Offset": str(offset)})


CHUNK_DESCRIPTION = (
    "Local storage. Send the bytes of one chunk as the body (any content type), at the offset "
    "given by `Content-Range: bytes <first>-<last>/<size>` or `?offset=`; it must be the "
    "number of bytes received so far (GET or HEAD tells it, also in the `Upload-Offset` "
    "header). A wrong offset is refused with 409 and the right one in `details.offset`. When "
    "the last byte arrives the file is stored and queued for ingest."
)
CHUNK_REQUEST = {"application/octet-stream": OpenApiTypes.BINARY}
CHUNK_EXAMPLES = [
    OpenApiExample(
        "Half received",
        response_only=True,
        value={"offset": 67108864, "size": 134217728, "state": "registered", "complete": False},
    ),
    _error_example(
        "Wrong offset",
        "conflict",
        "Images-Disc1/a.mrc: expected a chunk at offset 67108864, got 0",
        {"offset": 67108864},
        "409",
    ),
]


class ContentView(ApiView[DataFile]):
    permission_classes = AUTHENTICATED
    throttle_classes = UPLOAD_THROTTLES  # many requests per session: a budget of their own
    parser_classes = [RawBytesParser]
    serializer_class = s.ChunkOffsetSerializer

    def get_object(self) -> DataFile:
        # DRF's OPTIONS asks for the object a PUT would change (to describe the PUT only to
        # those who may send it); the file comes from the URL under the upload rules.
        return _session_file(self.request, self.kwargs["session_id"], self.kwargs["file_id"])

    @extend_schema(
        operation_id="uploads_content_offset",
        summary="How many bytes of a file have arrived",
        description="Local storage: where a resumed chunked upload continues. Also answered "
        "to HEAD, in the `Upload-Offset` header.",
        parameters=[SESSION_ID, FILE_ID],
        responses={200: s.ChunkOffsetSerializer, **error_responses(401, 403, 404, 409, 429)},
        examples=CHUNK_EXAMPLES[:1],
    )
    def get(self, request: Request, session_id: int, file_id: int) -> Response:
        datafile = _session_file(request, session_id, file_id)
        if datafile.state != FileState.REGISTERED:
            return _offset_response(datafile, datafile.size)
        offset = uploads.upload_local_offset(actor=request.user, datafile=datafile)
        return _offset_response(datafile, offset)

    def _chunk(self, request: Request, session_id: int, file_id: int) -> Response:
        datafile = _session_file(request, session_id, file_id)
        offset, length, sha256 = _chunk_position(request, datafile)
        stream = request.stream
        if stream is None:  # an empty body (a zero-byte file)
            stream = BytesIO()
        new_offset = uploads.upload_local_chunk(
            actor=request.user,
            datafile=datafile,
            offset=offset,
            stream=stream,
            length=length,
            sha256=sha256,
        )
        if new_offset != offset + length:
            raise ValidationFailed(
                f"{datafile.path}: the chunk arrived incomplete; send it again from offset "
                f"{new_offset}",
                details={"offset": new_offset},
            )
        datafile.refresh_from_db(fields=["state"])
        return _offset_response(datafile, new_offset)

    @extend_schema(
        operation_id="uploads_content_put",
        summary="Send a chunk of a file",
        description=CHUNK_DESCRIPTION,
        parameters=[
            SESSION_ID,
            FILE_ID,
            s.ChunkQuerySerializer,
            OpenApiParameter(
                "Content-Range",
                str,
                OpenApiParameter.HEADER,
                description="`bytes <first>-<last>/<size>`, e.g. `bytes 0-67108863/134217728`.",
            ),
        ],
        request=CHUNK_REQUEST,
        responses={200: s.ChunkOffsetSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        examples=CHUNK_EXAMPLES,
    )
    def put(self, request: Request, session_id: int, file_id: int) -> Response:
        return self._chunk(request, session_id, file_id)

    @extend_schema(
        operation_id="uploads_content_post",
        summary="Send a chunk of a file (POST)",
        description=CHUNK_DESCRIPTION + " The same as PUT, for clients that cannot send PUT.",
        parameters=[
            SESSION_ID,
            FILE_ID,
            s.ChunkQuerySerializer,
            OpenApiParameter(
                "Content-Range",
                str,
                OpenApiParameter.HEADER,
                description="`bytes <first>-<last>/<size>`, e.g. `bytes 0-67108863/134217728`.",
            ),
        ],
        request=CHUNK_REQUEST,
        responses={200: s.ChunkOffsetSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        examples=CHUNK_EXAMPLES,
    )
    def post(self, request: Request, session_id: int, file_id: int) -> Response:
        return self._chunk(request, session_id, file_id)
