"""S3 multipart uploads of a file: start or resume, presign parts, list parts, complete, abort."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from ingest import serializers as s
from ingest import uploads
from openem.api.exceptions import error_responses
from openem.api.throttling import UPLOAD_THROTTLES
from openem.api.views import ApiView
from repository.models import DataFile

from . import docs
from .docs import (
    FILE_ID,
    SESSION_ID,
    UPLOAD_ID,
)
from .lookups import AUTHENTICATED, file_url, get_session_file, serializer_context

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
            "parts_url": file_url(request, "api:upload-multipart-parts", datafile),
            "complete_url": file_url(request, "api:upload-multipart-complete", datafile),
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
        description=docs.UPLOADS_MULTIPART_START,
        parameters=[SESSION_ID, FILE_ID],
        request=s.MultipartStartInputSerializer,
        responses={200: s.MultipartStartSerializer, **error_responses(401, 403, 404, 409, 429)},
        examples=docs.UPLOADS_MULTIPART_START_EXAMPLES,
    )
    def post(self, request: Request, session_id: int, file_id: int) -> Response:
        datafile = get_session_file(request, session_id, file_id)
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
        description=docs.UPLOADS_MULTIPART_ABORT,
        parameters=[SESSION_ID, FILE_ID, UPLOAD_ID],
        responses={204: None, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def delete(self, request: Request, session_id: int, file_id: int) -> Response:
        datafile = get_session_file(request, session_id, file_id)
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
        description=docs.UPLOADS_MULTIPART_PARTS_SIGN,
        parameters=[SESSION_ID, FILE_ID],
        request=s.SignPartsInputSerializer,
        responses={200: s.SignedPartsSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        examples=docs.UPLOADS_MULTIPART_PARTS_SIGN_EXAMPLES,
    )
    def post(self, request: Request, session_id: int, file_id: int) -> Response:
        datafile = get_session_file(request, session_id, file_id)
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
        description=docs.UPLOADS_MULTIPART_PARTS_LIST,
        parameters=[SESSION_ID, FILE_ID, UPLOAD_ID],
        responses={
            200: s.UploadedPartsSerializer,
            **error_responses(400, 401, 403, 404, 409, 429),
        },
        examples=docs.UPLOADS_MULTIPART_PARTS_LIST_EXAMPLES,
    )
    def get(self, request: Request, session_id: int, file_id: int) -> Response:
        datafile = get_session_file(request, session_id, file_id)
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
        description=docs.UPLOADS_MULTIPART_COMPLETE,
        parameters=[SESSION_ID, FILE_ID],
        request=s.CompleteMultipartInputSerializer,
        responses={200: s.UploadFileSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        examples=docs.UPLOADS_MULTIPART_COMPLETE_EXAMPLES,
    )
    def post(self, request: Request, session_id: int, file_id: int) -> Response:
        datafile = get_session_file(request, session_id, file_id)
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
        return Response(s.UploadFileSerializer(datafile, context=serializer_context(request)).data)
